"""Request parameters, declared once: parsed and checked from the request, and described in
the OpenAPI document (:mod:`beat.web.openapi`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class BadRequest(ValueError):
    """A parameter that is missing or out of range: the API answers 400 with this message."""


@dataclass(frozen=True)
class Param:
    name: str
    where: str = "query"  # "query" or "path"
    kind: str = "string"  # "string", "integer" or "boolean"
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 500
    description: str = ""

    def parse(self, query: Mapping[str, str], path: Mapping[str, Any]) -> Any:
        raw = path.get(self.name) if self.where == "path" else query.get(self.name)
        if raw is None or raw == "":
            return self.default
        text = str(raw)
        if len(text) > self.max_length:
            raise BadRequest(f"{self.name}: longer than {self.max_length} characters")
        if self.kind == "string":
            return text
        if self.kind == "boolean":
            return _boolean(self.name, text)
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(f"{self.name}: expected a whole number, got {text[:40]!r}") from None
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise BadRequest(f"{self.name}: expected {self.minimum} to {self.maximum}, got {value}")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "in": self.where,
            "required": self.where == "path",
            "description": self.description,
        }
        if self.kind == "boolean":
            schema: dict[str, Any] = {"type": "boolean"}
        elif self.kind == "integer":
            schema = {"type": "integer"}
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        else:
            schema = {"type": "string", "maxLength": self.max_length}
            if self.where == "path":
                schema["minLength"] = 1
        if self.default is not None:
            schema["default"] = self.default
        out["schema"] = schema
        return out


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _boolean(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise BadRequest(f"{name}: expected true or false, got {text[:40]!r}")


def parse_all(
    params: tuple[Param, ...], query: Mapping[str, str], path: Mapping[str, Any]
) -> dict[str, Any]:
    return {p.name: p.parse(query, path) for p in params}
