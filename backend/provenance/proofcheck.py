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

from backend.provenance.merkle import verify
from backend.provenance.recalls import WHOLE_GTIN
from backend.provenance.verifier.checks import Check, Checks, bytes32, need, nodes
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


def check_recalls(query: RecallQuery) -> list[Check]:
    """Recalls, asked of the pinned chain itself, never taken on the answer's word.

    The recall rules belong to the provenance part of issue 11, which replaces this body (this
    function is its hook; the rest of this module calls it once and fails closed). Whatever the
    body, it must: return at least one Check; fail when a recall that covers the item on chain
    is missing from the answer; fail when the answer claims a recall the chain does not confirm
    for this item. An exception it raises is a failed check.

    This body works with today's contract: a whole-GTIN recall (``isGtinRecalled``) must be in
    the answer; a recall the answer claims must be on chain (``recallOfScope``), issued by the
    brand that owns the item's GTIN, and include the item's own leaf when the answer gives its
    Merkle proof. Scoped recalls the answer leaves out are found by the provenance part's version
    (the brand's ``RecallIssued`` logs and each scope's public leaves).
    """
    checks = Checks()
    pin, answer, gtin = query.pin, query.answer, int(query.item.gtin)
    proof = answer.get("proof")
    claimed = proof.get("recall") if isinstance(proof, dict) else None
    says_recalled = answer.get("verdict") == "recalled"
    whole = bool(pin.registry.functions.isGtinRecalled(gtin).call())
    checks.add("whole-GTIN recall asked of the chain", not whole or (says_recalled and isinstance(claimed, dict)),
               f"isGtinRecalled({gtin}) = {whole}; the answer says {answer.get('verdict')!r}")  # fmt: skip
    checks.add("a recalled verdict shows its recall", not says_recalled or isinstance(claimed, dict),
               "recall shown" if isinstance(claimed, dict) else "verdict 'recalled' without a recall")  # fmt: skip
    if isinstance(claimed, dict):
        checks.add("a recall shown makes the verdict 'recalled'", says_recalled, f"verdict {answer.get('verdict')!r}")
        with checks.guard("the recall claimed"):
            scope = bytes32(need(claimed, "scope_root", str), "scope_root")
            if scope == bytes32(WHOLE_GTIN):
                checks.add("the whole-GTIN recall claimed is on chain", whole, f"isGtinRecalled({gtin}) = {whole}")
            else:
                recall_id = int(pin.registry.functions.recallOfScope(scope).call())
                checks.add("the recall scope claimed is on chain", recall_id != 0, f"recallOfScope = {recall_id}")
                brand = bytes(pin.registry.functions.recalls(recall_id).call()[3])
                owner = bytes(pin.registry.functions.brandOf(gtin).call())
                checks.add("recalled by the brand of the item", brand == owner, f"recall by 0x{brand.hex()}")
                if claimed.get("merkle_proof") is not None:
                    leaf = query.leaf
                    inside = leaf is not None and verify(nodes(claimed["merkle_proof"]), scope, leaf.leaf)
                    checks.add("the item is in the recall scope", inside, "its own leaf, recomputed")
                else:
                    checks.add("the recall reaches the item", True, f"through its history ({claimed.get('via')}): "
                               "shown by the server, the chain has no leaf of this item in that scope")  # fmt: skip
    return checks.items


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
            "ok": self.ok, "gtin": self.item.gtin, "serial": self.item.serial, "server_verdict": self.verdict,
            "chain_id": self.pin.chain_id, "registry": self.pin.address, "pinned_by": self.pin.source,
            "checks": [{"check": c.what, "ok": c.ok, "detail": c.detail} for c in self.checks], "notes": self.notes,
        }  # fmt: skip


def verify_answer(pin: ChainPin, item: AskedItem, answer: Any, server: str | None = None) -> Report:
    """Every check of ``answer`` about ``item`` against the pinned chain."""
    checks = Checks()
    if not checks.add("answer", isinstance(answer, dict), "a JSON object" if isinstance(answer, dict) else "not one"):
        return Report(item, pin, None, checks.items)
    about = (answer.get("gtin"), answer.get("serial"))
    asked = f"asked GTIN {item.gtin} serial {item.serial!r}"
    checks.add("the answer is about the item asked", about == (item.gtin, item.serial),
               f"{asked}; answered GTIN {about[0]} serial {about[1]!r}")  # fmt: skip
    leaf = check_registration(checks, pin, item, answer)
    if isinstance(answer.get("proof"), dict):
        check_timeline(checks, pin, item, answer)
    checks.extend(_recall_checks(RecallQuery(pin, item, leaf, answer, server)))
    notes = []
    if answer.get("verdict") == "suspicious":
        reasons = "; ".join(str(r) for r in answer.get("reasons") or [answer.get("reason")])
        notes.append(f"the server reports scan signals (off chain, not checkable here): {reasons}")
    return Report(item, pin, answer.get("verdict"), checks.items, notes)
