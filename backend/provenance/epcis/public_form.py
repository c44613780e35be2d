"""The public form of an EPCIS event: what the consumer verification answer shows and the chain
binds, without the serial of any item.

An event about a case, or the commissioning of a batch, lists every serial in it. Serials are
guessable, which is why the chain holds only salted commitments to them; an answer that showed
the events as captured would hand whoever scans one item the serials of its case-mates and
batch-mates. So the public answer shows every event in its public form:

- **token** of a serialized item: ``item:0x<itemLeaf(gtin, commitment)>`` (lower-case hex), the
  leaf the item was registered under. It is salted: it cannot be turned back into a serial, and
  only someone who knows the item's serial and salt can compute it.
- **public body**: the event's JSON without the fields that never enter the hash (``eventID``,
  ``recordTime``, ``errorDeclaration``, ``@context``, comments), in which every string value that
  denotes a serialized item (its text, or the text the pre-hash string writes for it, is a GS1
  Digital Link ``…/01/<gtin>/21/<serial>``) is replaced by the item's token. Containers (SSCC),
  locations (SGLN), classes (LGTIN, GTIN) and everything else stay as captured.
- **public form**: the CBV 2.0 pre-hash string of the public body (``hashing.pre_hash_string``),
  tokens copied as they are. The pre-hash string sorts every list, after the substitution; so does
  the public body, for every list with a token in it (by the list elements' JSON text): the order
  in which the writer listed its serials tells nothing about them.
- **anchored value**: ``keccak256(abi.encode(cbvCommitment, sha256(publicForm)))`` with
  ``cbvCommitment = keccak256(abi.encode(eventSalt, sha256(canonical)))``: the event's CBV 2.0
  hash (its identity everywhere else) under a per-event secret salt. The CBV hash itself is never
  published: the public form tells everything about an event but its serials, so a plain hash of
  the whole event would let anyone confirm a guess of them (sequential serials are guessed in a
  few tries). Partners who may read the event get its salt (``event_anchor``) and check the
  full event against the chain.

Identifiers of serialized instances that no registered item stands for (ITIP pieces, UPUIs, a
GTIN + serial no brand registered) have no token: capture refuses them, because they would have to
be published in clear. docs/verification.md gives the same definitions for third parties.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import keccak

from backend.bounds import MAX_EVENT_DEPTH, check_value_depth
from backend.provenance.epcis.hashing import (
    IGNORED,
    STANDARD_PREFIXES,
    hash_digest,
    pre_hash_string,
    value_canoniser,
)
from backend.provenance.epcis.identifiers import Identifier, parse_identifier
from backend.provenance.merkle import item_leaf

TOKEN = re.compile(r"item:0x[0-9a-f]{64}")
# Top-level fields the public body leaves out: none enters the hash, and they may carry a writer's
# notes, when our server recorded the event, or (eventID, often the CBV hash itself) a value that
# confirms guessed serials.
UNPUBLISHED = IGNORED - {"type"}
# Text that claims to be a serialized instance's identifier (EPC URN or Digital Link with a serial
# or a UPUI), checked when it does not parse: it may carry a serial, so it cannot be published.
_INSTANCE_CLAIM = re.compile(
    r"^urn:epc:id:(?:sgtin|itip|upui):|^https?://.*/(?:01|gtin|8006|itip)/[^/?#]+/(?:[^?#]*/)?(?:21|ser|235)/",
    re.IGNORECASE,
)


_URI_STARTS = ("urn:epc:", "http://", "https://")


class Unpublishable(ValueError):
    """A value names a serialized instance that has no token: it cannot be published."""

    def __init__(self, where: str, text: str, why: str) -> None:
        super().__init__(f"{where}: {text[:120]!r} {why}")
        self.where = where
        self.text = text
        self.why = why


@dataclass(frozen=True)
class Mention:
    """A string value of an event that denotes a serialized instance. ``item`` is the serialized
    trade item (SGTIN) it names; None when it cannot have a token (``why`` says why)."""

    where: str
    text: str
    item: Identifier | None
    why: str = ""


@lru_cache(maxsize=65_536)  # pure; an item's token is needed by every event that names it
def item_token(gtin: str | int, commitment: bytes) -> str:
    """The token that stands for a registered item in public forms."""
    return "item:0x" + item_leaf(int(gtin), commitment).hex()


def is_token(value: Any) -> bool:
    return isinstance(value, str) and TOKEN.fullmatch(value) is not None


class _Reader:
    """Reads the string values of one event as the pre-hash string does (with its prefixes)."""

    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self.canonise = value_canoniser(namespaces)
        self.prefixes = frozenset({*STANDARD_PREFIXES, *namespaces})

    def classify(self, text: str, where: str) -> Mention | None:
        """The serialized instance ``text`` denotes, if any."""
        stripped = text.strip()
        # Only a URI (EPC URN, Digital Link) or a name with a declared prefix can become a GS1 key
        # in the pre-hash string; anything else (times, CBV terms, numbers, free text) is skipped.
        if not (stripped[:8].lower().startswith(_URI_STARTS) or stripped.partition(":")[0] in self.prefixes):
            return None
        if TOKEN.fullmatch(stripped):
            return None
        if stripped.startswith(_URI_STARTS) and "urn" not in self.prefixes:
            # The common case: the pre-hash string writes a GS1 URI as its canonical form.
            identifier = parse_identifier(stripped)
            written = identifier.canonical if identifier else stripped
        else:  # what the pre-hash string writes (a prefix expanded, a URN converted)
            written = self.canonise(text)
            identifier = parse_identifier(written) or (parse_identifier(stripped) if written != stripped else None)
        if (
            identifier is not None
            and identifier.scheme == "sgtin"
            and identifier.gtin
            and identifier.serial is not None
        ):
            return Mention(where, text, identifier)
        if identifier is not None and (identifier.serial is not None or identifier.scheme == "upui"):
            return Mention(
                where,
                text,
                None,
                f"is a {identifier.scheme.upper()}, a serialized instance Credance "
                "does not register: it has no token and would be published in clear",
            )
        if identifier is None and (_INSTANCE_CLAIM.search(stripped) or _INSTANCE_CLAIM.search(written)):
            return Mention(
                where,
                text,
                None,
                "looks like a serialized item's identifier but is not a valid one: it would be published in clear",
            )
        return None


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _rewrite(value: Any, where: str, visit: Callable[[str, str], str | None]) -> tuple[Any, bool]:
    """``value`` with each string ``visit`` returns a replacement for replaced, every list that
    holds a token (at any depth) sorted, and whether it holds one (depth checked by the caller).
    No list order enters the pre-hash string: sorting changes nothing that is hashed."""
    if isinstance(value, str):
        replaced = visit(value, where)
        text = value if replaced is None else replaced
        return text, TOKEN.fullmatch(text) is not None
    if isinstance(value, list):
        done = [_rewrite(v, f"{where}[{i}]", visit) for i, v in enumerate(value)]
        items = [v for v, _ in done]
        if any(has for _, has in done):
            return sorted(items, key=_sort_key), True
        return items, False
    if isinstance(value, Mapping):
        fields = {k: _rewrite(v, f"{where}.{k}" if where else str(k), visit) for k, v in value.items()}
        return {k: v for k, (v, _) in fields.items()}, any(has for _, has in fields.values())
    return value, False


def _hashed_fields(body: Mapping[str, Any], depth_checked: bool = False) -> dict[str, Any]:
    if not depth_checked:
        check_value_depth(body, MAX_EVENT_DEPTH, "the event", "event")
    return {k: v for k, v in body.items() if k not in UNPUBLISHED}


def serialized_mentions(
    body: Mapping[str, Any], namespaces: Mapping[str, str], depth_checked: bool = False
) -> list[Mention]:
    """Every string value of the event's hashed fields that denotes a serialized instance
    (``depth_checked``: the caller measured the body against MAX_EVENT_DEPTH or less)."""
    reader = _Reader(namespaces)
    found: list[Mention] = []

    def visit(text: str, where: str) -> None:
        mention = reader.classify(text, where)
        if mention is not None:
            found.append(mention)

    _rewrite(_hashed_fields(body, depth_checked), "", visit)
    return found


def public_body(
    body: Mapping[str, Any],
    namespaces: Mapping[str, str],
    tokens: Mapping[str, str],
    fallback: Callable[[Mention], str] | None = None,
    mentions: Sequence[Mention] | None = None,
) -> dict[str, Any]:
    """The public body: ``tokens`` maps item keys (``Identifier.key``) to tokens. A serialized
    instance without a token raises Unpublishable, unless ``fallback`` gives one. ``mentions``
    (``serialized_mentions`` of this very body) saves reading its values a second time."""
    reader = _Reader(namespaces)
    known = None if mentions is None else {m.where: m for m in mentions}

    def visit(text: str, where: str) -> str | None:
        mention = reader.classify(text, where) if known is None else known.get(where)
        if mention is None:
            return None
        if mention.item is not None and mention.item.key in tokens:
            return tokens[mention.item.key]
        if fallback is not None:
            return fallback(mention)
        raise Unpublishable(where, text, mention.why or "names a serialized item that has no token here")

    if known is None:
        check_value_depth(body, MAX_EVENT_DEPTH, "the event", "event")  # (the mentions were read after it)
    rewritten, _ = _rewrite({k: v for k, v in body.items() if k not in UNPUBLISHED}, "", visit)
    return dict(rewritten)


def public_form(body: Mapping[str, Any], namespaces: Mapping[str, str], depth_checked: bool = False) -> str:
    """The CBV 2.0 pre-hash string of a public body, tokens copied as they are (``depth_checked``:
    the public body of an event whose depth was measured: rewriting strings keeps the nesting)."""
    return pre_hash_string(body, namespaces, verbatim=TOKEN, depth_checked=depth_checked)


def public_digest(form: str) -> bytes:
    return hashlib.sha256(form.encode()).digest()


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return value


def cbv_commitment(event_salt: bytes, cbv_digest: bytes) -> bytes:
    """keccak256(abi.encode(bytes32 eventSalt, bytes32 cbvDigest)): two static words, so the
    encoding is their concatenation."""
    return keccak(_bytes32(event_salt, "the event salt") + _bytes32(cbv_digest, "the CBV digest"))


def anchored_value(commitment: bytes, public: bytes) -> bytes:
    """keccak256(abi.encode(bytes32 cbvCommitment, bytes32 publicDigest)): what isEventAnchored checks."""
    return keccak(_bytes32(commitment, "the CBV commitment") + _bytes32(public, "the public digest"))


def shown_body(body: Mapping[str, Any], own_token: str, own_key: str) -> dict[str, Any]:
    """The public body as shown to whoever asked about one item: that item (they know it) in clear,
    as its canonical Digital Link; every other item stays a token."""

    def clear(value: Any) -> Any:
        if isinstance(value, list):
            return [clear(v) for v in value]
        if isinstance(value, Mapping):
            return {k: clear(v) for k, v in value.items()}
        return own_key if value == own_token else value

    shown: dict[str, Any] = clear(body)
    return shown


def anchored_hash(cbv_hash: str, event_salt: str, public_hash: str) -> bytes:
    """The anchored value of a stored event, from its columns (``ni:`` CBV hash, 0x salt, 0x public hash)."""
    commitment = cbv_commitment(bytes.fromhex(event_salt.removeprefix("0x")), hash_digest(cbv_hash))
    return anchored_value(commitment, bytes.fromhex(public_hash.removeprefix("0x")))
