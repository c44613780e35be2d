"""Check a verification answer against the chain, trusting nothing the server says (issue 11,
finding 10): ``credance verify`` and anything else that verifies an item call :func:`verify_answer`.

The verifier is given the item (``AskedItem``: from the Digital Link or the GTIN and serial the
person asked about) and the chain (``ChainPin``: a node, with the registry pinned by address or
by a trusted manifest). From the answer it takes only what it cannot know otherwise (the salt,
Merkle proofs, event bodies, transaction hashes) and recomputes or asks the chain about
everything else: the item's commitment and leaf (backend.provenance.verifier.registration), every
event's hash and anchor and the timeline's consistency (.timeline), and recalls, through one
hook, :func:`check_recalls`. Anything missing or malformed is a failed check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.provenance.recall_check import ScopeFetcher, http_scope_fetcher, recall_checks
from backend.provenance.verifier.checks import Check, Checks
from backend.provenance.verifier.item import AskedItem
from backend.provenance.verifier.pinning import ChainPin
from backend.provenance.verifier.registration import ItemLeaf, check_registration
from backend.provenance.verifier.timeline import check_timeline

__all__ = ["Check", "RecallQuery", "Report", "check_recalls", "verify_answer"]


@dataclass(frozen=True)
class RecallQuery:
    """What the recall check gets: the pinned chain, the item asked, its leaf as the verifier
    computed it (None if the answer gave no usable salt), the answer, and the server it came
    from (for public recall scopes), if known."""

    pin: ChainPin
    item: AskedItem
    leaf: ItemLeaf | None
    answer: dict[str, Any]
    server: str | None = None
    fetch_scope: ScopeFetcher | None = None  # default: the server's public /v1/recalls/{id}/scope


def check_recalls(query: RecallQuery) -> list[Check]:
    """Recalls, asked of the pinned chain itself, never taken on the answer's word.

    The recall rules belong to the provenance part of issue 11, which replaces this body (this
    function is its hook; the rest of this module calls it once and fails closed). Whatever the
    body, it must: return at least one Check; fail when a recall that covers the item on chain
    is missing from the answer; fail when the answer claims a recall the chain does not confirm
    for this item. An exception it raises is a failed check.

    The chain is asked, never the answer: ``brandOf`` and ``isGtinRecalled`` of the item's GTIN, the
    brand's ``RecallIssued`` logs, each scope's public leaves (fetched from the server asked, checked
    against the root and count on chain) and ``isItemRecalled`` with a proof built here
    (backend.provenance.recall_check). A covering recall missing from the answer fails.
    """
    commitment = query.leaf.commitment if query.leaf else None
    fetch = query.fetch_scope or (http_scope_fetcher(query.server) if query.server else None)
    found = recall_checks(
        query.pin.w3, query.pin.address, int(query.item.gtin), commitment, query.answer, fetch, query.pin.from_block
    )
    return [Check(c.what, c.ok, c.detail) for c in found]


def _recall_checks(query: RecallQuery) -> list[Check]:
    """The hook, failing closed: an exception or an empty answer is a failed check."""
    try:
        found = check_recalls(query)
    except Exception as exc:  # whatever the recall check hit, the item is not verified
        return [Check("recalls", False, f"the recall check failed: {type(exc).__name__}: {exc}"[:400])]
    if not found:
        return [Check("recalls", False, "the recall check reported nothing")]
    return list(found)


@dataclass(frozen=True)
class Report:
    item: AskedItem
    pin: ChainPin
    verdict: Any  # what the server said
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "gtin": self.item.gtin,
            "serial": self.item.serial,
            "server_verdict": self.verdict,
            "chain_id": self.pin.chain_id,
            "registry": self.pin.address,
            "pinned_by": self.pin.source,
            "checks": [{"check": c.what, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "notes": self.notes,
        }


def verify_answer(
    pin: ChainPin, item: AskedItem, answer: Any, server: str | None = None, fetch_scope: ScopeFetcher | None = None
) -> Report:
    """Every check of ``answer`` about ``item`` against the pinned chain. Recall scopes come from
    ``fetch_scope``, else from ``server`` (else the server the answer's Digital Link names)."""
    checks = Checks()
    if not checks.add("answer", isinstance(answer, dict), "a JSON object" if isinstance(answer, dict) else "not one"):
        return Report(item, pin, None, checks.items)
    about = (answer.get("gtin"), answer.get("serial"))
    asked = f"asked GTIN {item.gtin} serial {item.serial!r}"
    checks.add(
        "the answer is about the item asked",
        about == (item.gtin, item.serial),
        f"{asked}; answered GTIN {about[0]} serial {about[1]!r}",
    )
    leaf = check_registration(checks, pin, item, answer)
    if isinstance(answer.get("proof"), dict):
        check_timeline(checks, pin, item, answer, leaf)
    checks.extend(_recall_checks(RecallQuery(pin, item, leaf, answer, server, fetch_scope)))
    notes = []
    if answer.get("verdict") == "suspicious":
        reasons = "; ".join(str(r) for r in answer.get("reasons") or [answer.get("reason")])
        notes.append(f"the server reports scan signals (off chain, not checkable here): {reasons}")
    return Report(item, pin, answer.get("verdict"), checks.items, notes)
