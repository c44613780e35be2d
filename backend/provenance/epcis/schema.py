"""Validation against the official EPCIS 2.0 JSON Schema (draft-07). Formats are checked:
``rfc3987`` must be installed, or jsonschema silently accepts any string as a URI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import rfc3987  # noqa: F401  (imported so a missing package fails loudly, not silently)
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from backend.errors import DomainError


class SchemaMissing(DomainError):
    """The official schema file is not where the settings say: capture is unavailable."""

    status = 503
    code = "epcis_schema_missing"


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    message: str


@lru_cache(maxsize=4)
def _validator(path: Path) -> Draft7Validator:
    if not path.exists():
        raise SchemaMissing(f"EPCIS JSON Schema not found at {path} (set CREDANCE_EPCIS_DIR)", field="document")
    schema = json.loads(path.read_text())
    checker = FormatChecker()
    if "uri" not in checker.checkers:
        raise SchemaMissing("jsonschema cannot check URI formats: install rfc3987", field="document")
    return Draft7Validator(schema, format_checker=checker)


def _path(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _deepest(error: ValidationError) -> ValidationError:
    """The most specific cause of an ``anyOf``/``oneOf``/``allOf`` failure (what a person can fix)."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.context or [])))
    return error


def validate_document(document: Any, schema_path: Path, limit: int = 50) -> list[SchemaProblem]:
    """Every problem the schema finds (up to ``limit``), each with the JSON path at fault."""
    problems: list[SchemaProblem] = []
    seen: set[tuple[str, str]] = set()
    for error in _validator(schema_path).iter_errors(document):
        cause = _deepest(error)
        key = (_path(cause), cause.message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(SchemaProblem(*key))
        if len(problems) >= limit:
            break
    return sorted(problems, key=lambda p: p.path)
