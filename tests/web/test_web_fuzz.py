"""The JSON API fuzzed from its own OpenAPI document by schemathesis, with a signed-in session
and its CSRF token (so the actions are reached too): no 500, answers match the document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from beat.web.openapi import document
from tests.web.conftest import StartWeb, write_config

ST = Path(sys.executable).parent / "st"


def test_schemathesis_finds_no_server_error(
    tmp_path: Path, broker_url: str, start_web: StartWeb
) -> None:
    web = start_web(write_config(tmp_path, broker_url))
    client = web.client()
    csrf = client.csrf()
    (cookie,) = [c for c in client.jar if c.name == "beat_session"]
    proc = subprocess.run(
        [
            str(ST),
            "run",
            f"{web.base}/api/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
            "--max-examples",
            "20",
            "--seed",
            "1",
            "-H",
            f"Cookie: beat_session={cookie.value}",
            "-H",
            f"X-CSRF-Token: {csrf}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    operations = sum(len(methods) for methods in document()["paths"].values())
    assert f"Tested: {operations}" in proc.stdout  # every operation of the document reached
    assert " 500 " not in web.log() and "Traceback" not in web.log()
