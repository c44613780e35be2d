"""What each outbox operation means on chain: the contract call (or value transfer) to make."""

from __future__ import annotations

import json
from typing import Any

from web3 import Web3
from web3.types import TxParams, Wei

from backend.chain.context import ChainContext
from backend.db.models import Operation

# Operations whose effect emits no event: the sender confirms them on a successful receipt.
CONFIRMED_BY_RECEIPT = frozenset({"fund", "set_transfer_policy"})
BATCHED_KINDS = frozenset({"award"})


def _call(contract: Any, function: str, *args: Any) -> TxParams:
    return {"to": contract.address, "data": contract.encode_abi(function, args=list(args))}


def award_batch_call(ctx: ChainContext, operations: list[Operation]) -> TxParams:
    awards = [
        (
            Web3.to_checksum_address(op.account or ""),
            op.id,
            op.rule_version,
            op.amount,
            bytes.fromhex((op.ref or "")[2:]),
        )
        for op in operations
    ]
    return _call(ctx.points, "awardBatch", awards)


def single_call(ctx: ChainContext, op: Operation) -> TxParams:
    p = json.loads(op.payload or "{}")
    registry, points = ctx.registry, ctx.points
    match op.kind:
        case "fund":
            return {"to": Web3.to_checksum_address(op.account or ""), "value": Wei(op.amount)}
        case "publish_rules":
            return _call(points, "publishRuleSet", op.rule_version, bytes.fromhex((op.ref or "")[2:]))
        case "set_organisation":
            return _call(registry, "setOrganisation", _b32(p["org_id"]), p["controller"], p["roles"], p["active"])
        case "set_partner_roles":
            return _call(registry, "setPartnerRoles", _b32(p["partner_id"]), p["roles"])
        case "assign_prefix":
            return _call(registry, "assignCompanyPrefix", p["prefix_key"], _b32(p["brand_id"]))
        case "register_product":
            return _call(registry, "registerProduct", p["gtin"])
        case "register_items":
            return _call(registry, "registerItems", p["gtin"], _b32(p["root"]), p["count"])
        case "anchor_events":
            return _call(registry, "anchorEvents", _b32(p["root"]), p["count"])
        case "recall":
            return _call(registry, "recall", p["gtin"], _b32(p["scope_root"]), p["count"], _b32(p["reason_ref"]))
        case "reverse":
            return _call(points, "reverse", _account(op), op.id, op.amount, _b32(op.ref))
        case "redeem":
            return _call(points, "redeemFor", _account(op), op.id, op.amount, _b32(op.ref))
        case "redeem_permit":
            return _call(
                points, "redeemWithPermit", _account(op), op.id, op.amount, _b32(op.ref),
                p["deadline"], p["v"], _b32(p["r"]), _b32(p["s"]),
            )  # fmt: skip
        case "set_transfer_policy":
            return _call(points, "setTransferPolicy", p["enabled"], p["daily_cap"])
        case "expire":
            return _call(points, "expireBatch", [(_account(op), op.id, op.amount)])
        case "transfer":
            return _call(
                points,
                "transferFor",
                op.id,
                _account(op),
                Web3.to_checksum_address(p["to"]),
                op.amount,
                _b32(op.ref),
            )
        case "claim":
            return _call(points, "claimWallet", op.id, _account(op), Web3.to_checksum_address(p["wallet"]))
    raise ValueError(f"unknown operation kind {op.kind!r}")


def _account(op: Operation) -> str:
    return Web3.to_checksum_address(op.account or "")


def _b32(value: str | None) -> bytes:
    raw = bytes.fromhex((value or "0x")[2:])
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {value!r}")
    return raw
