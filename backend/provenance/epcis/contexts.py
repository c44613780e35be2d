"""The JSON-LD contexts of captured events: what each event means beyond the standard context, and
how an export keeps that meaning.

- At capture, a context may add prefixes (``"example": "http://ns.example.com/epcis/"``) and typed
  term definitions (``"example:temp": {"@type": "xsd:decimal"}``), but it may not redefine a term
  of the standard context: that context is ``@protected``, so a JSON-LD processor refuses any
  document that does (``cbvmda`` given another IRI, say). Each event keeps the context entries it
  was captured with (the document's and its own ``@context``).
- An export puts events from many captures into one document. Two captures may use one prefix for
  different namespaces: the export renames the prefix in the later events (``example`` →
  ``example2``, in keys and values alike), which leaves every expanded IRI, and so every event
  hash, as it was (GS1's reference implementation reads only the document's context: renaming
  keeps it agreeing). A term the event uses whole (a key ``temp``), or a term definition, that two
  events define differently goes into that event's own ``@context`` instead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

STANDARD_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
Definitions = dict[str, Any]


@cache
def standard_terms(context_path: Path) -> Mapping[str, Any]:
    """The terms the official EPCIS 2.0 context defines at its top level (all protected)."""
    document = json.loads(context_path.read_text())
    return {k: v for k, v in document["@context"].items() if not k.startswith("@")}


def context_entries(context: Any) -> list[Definitions]:
    """The object entries of a ``@context`` (prefixes and term definitions), in order; the URLs of
    remote contexts (the standard one) are not kept."""
    entries = context if isinstance(context, list) else [context]
    return [dict(entry) for entry in entries if isinstance(entry, Mapping) and entry]


def protected_redefinitions(context: Any, context_path: Path) -> list[tuple[str, str]]:
    """(term, why) for each term of the standard context that ``context`` defines otherwise."""
    standard = standard_terms(context_path)
    found = []
    for entry in context_entries(context):
        for term, definition in entry.items():
            if term in standard and definition != standard[term]:
                found.append((term, f"redefines {term!r}, a protected term of the EPCIS 2.0 context"))
    return found


def merged(entries: Iterable[Mapping[str, Any]]) -> Definitions:
    """One object from context entries, later entries winning (as JSON-LD processes them)."""
    result: Definitions = {}
    for entry in entries:
        result.update({k: v for k, v in entry.items() if not k.startswith("@")})
    return result


class ExportContext:
    """The context of an exported document, built event by event (see the module docstring)."""

    def __init__(self) -> None:
        self.definitions: Definitions = {}

    def place(self, definitions: Mapping[str, Any], body: Any) -> tuple[dict[str, str], Definitions]:
        """Add the definitions of one event (``body``); answer the prefixes to rename in it and the
        definitions that only its own ``@context`` can hold."""
        renames: dict[str, str] = {}
        own: Definitions = {}
        for term, definition in definitions.items():
            if self.definitions.setdefault(term, definition) == definition:
                continue
            if isinstance(definition, str) and term not in _keys(body):
                renamed = next(
                    f"{term}{n}"
                    for n in itertools.count(2)
                    if self.definitions.get(f"{term}{n}", definition) == definition
                )
                self.definitions[renamed] = definition
                renames[term] = renamed
            else:
                own[term] = definition
        return renames, own

    def document_context(self) -> list[Any]:
        return [STANDARD_CONTEXT] + [{term: d} for term, d in sorted(self.definitions.items())]


def _keys(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:  # no recursion on captured content (it was measured, but stay flat anyway)
        item = stack.pop()
        if isinstance(item, Mapping):
            found.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def renamed(value: Any, renames: Mapping[str, str]) -> Any:
    """``value`` with each renamed prefix replaced, in keys (``example:temp``) and in string values
    (``example:cold``)."""
    if not renames:
        return value
    if isinstance(value, list):
        return [renamed(v, renames) for v in value]
    if isinstance(value, Mapping):
        return {_rename(k, renames): renamed(v, renames) for k, v in value.items()}
    if isinstance(value, str):
        return _rename(value, renames)
    return value


def _rename(text: str, renames: Mapping[str, str]) -> str:
    prefix, sep, local = text.partition(":")
    if sep and prefix in renames and not local.startswith("//"):
        return f"{renames[prefix]}:{local}"
    return text
