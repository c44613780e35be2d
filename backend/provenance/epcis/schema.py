"""Validation against the official EPCIS 2.0 JSON Schema (draft-07). Formats are checked:
``rfc3987`` must be installed, or jsonschema silently accepts any string as a URI.

Two validators, one verdict. The Python ``jsonschema`` validator is the reference: it names every
problem, and it decides. It walks a 100-event document in about 180 ms, though (every ``anyOf``
branch of every event), two thirds of a capture's time. So a document is first given to the
compiled validator of ``jsonschema-rs`` (well under 1 ms), with the *same* format functions as
the reference (``uri`` by ``rfc3987``, ``date-time`` by RFC 3339), memoised because the schema
checks each string several times. A document it finds valid is valid (it accepts nothing the
reference refuses: tests/provenance/test_schema_validators.py holds them to that on the official
examples and on mutated ones); any other document goes to the reference, whose problems are the
answer, so the problems a client sees are exactly today's."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
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


FORMAT_MEMO = 65_536  # distinct strings whose format verdict is remembered (identifiers repeat across documents)


def _schema(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SchemaMissing(f"EPCIS JSON Schema not found at {path} (set CREDANCE_EPCIS_DIR)", field="document")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def _checker() -> FormatChecker:
    checker = FormatChecker()
    if "uri" not in checker.checkers:
        raise SchemaMissing("jsonschema cannot check URI formats: install rfc3987", field="document")
    return checker


@lru_cache(maxsize=4)
def _validator(path: Path) -> Draft7Validator:
    """The reference validator: every problem, with its path."""
    return Draft7Validator(_schema(path), format_checker=_checker())


def _format_function(checker: FormatChecker, name: str) -> Callable[[str], bool]:
    """The reference's check of one format, as a memoised predicate (the same verdicts)."""
    check, raises = checker.checkers[name]

    @lru_cache(maxsize=FORMAT_MEMO)
    def conforms(value: str) -> bool:
        try:
            return bool(check(value))
        except raises:
            return False

    return conforms


@lru_cache(maxsize=4)
def _compiled(path: Path) -> Any:
    """The compiled validator, with the reference's format functions for every format the schema uses."""
    schema, checker = _schema(path), _checker()
    names = sorted(set(_formats_in(schema)))
    missing = [name for name in names if name not in checker.checkers]
    if missing:  # a format the reference does not check: the compiled one must not check it either
        raise SchemaMissing(f"no format checker for {missing} (install jsonschema[format])", field="document")
    formats = {name: _format_function(checker, name) for name in names}
    return jsonschema_rs.Draft7Validator(schema, validate_formats=True, formats=formats)


def _formats_in(value: Any) -> list[str]:
    """Every ``format`` keyword of a schema (iterative: the schema is ours, but no recursion anyway)."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                found.append(node["format"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def is_valid(document: Any, schema_path: Path) -> bool:
    """The compiled validator's verdict alone: True only for a document the reference accepts too."""
    return bool(_compiled(schema_path).is_valid(document))


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
    if is_valid(document, schema_path):
        return []
    return reference_problems(document, schema_path, limit)


def reference_problems(document: Any, schema_path: Path, limit: int = 50) -> list[SchemaProblem]:
    """The reference validator's problems (the compiled one only says whether there are any)."""
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
