"""Raw SQL on the SQL source's database, as a program other than beat would write it."""

from __future__ import annotations

import sqlalchemy as sa


def raw_sql(url: str, *statements: str) -> None:
    """Run ``statements`` in one transaction on a connection of their own, and commit."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()
