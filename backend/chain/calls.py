"""ABI encoding for the outbox's transactions (``operations.py`` says which call each kind makes).

``awardBatch`` calldata is packed by hand: web3's generic encoder walks the ABI for every value
(~0.1 ms per award, 40% of the sender's CPU for a batch of 256); this takes a few microseconds
per award. ``tests/unit/test_award_encoding.py`` checks both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from eth_utils import function_signature_to_4byte_selector
from web3.types import TxParams

AWARD_BATCH_SELECTOR = function_signature_to_4byte_selector("awardBatch((address,uint64,uint32,uint128,bytes32)[])")


class AwardRow(Protocol):
    """An award as the outbox holds it (an ``Operation`` row)."""

    @property
    def id(self) -> int | None: ...
    @property
    def account(self) -> str | None: ...
    @property
    def amount(self) -> int: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def rule_version(self) -> int | None: ...


def contract_call(contract: Any, function: str, *args: Any) -> TxParams:
    return {"to": contract.address, "data": contract.encode_abi(function, args=list(args))}


def encode_award_batch(operations: Sequence[AwardRow]) -> bytes:
    """Calldata of ``awardBatch(Award[])`` for award rows of the outbox."""
    return encode_awards(
        (op.account or "", op.id or 0, op.rule_version or 0, op.amount, op.ref or "") for op in operations
    )


def encode_awards(awards: Iterable[tuple[str, int, int, int, str]]) -> bytes:
    """Calldata of ``awardBatch(Award[])`` from (account, operation id, rule version, amount, ref).

    ``Award`` (address, uint64, uint32, uint128, bytes32) is a static tuple: the array is its
    length and then five 32-byte words per award.
    """
    words: list[bytes] = []
    count = 0
    for account_hex, op_id, rule_version, amount, ref_hex in awards:
        account = bytes.fromhex(account_hex[2:])
        ref = bytes.fromhex(ref_hex[2:])
        if len(account) != 20 or len(ref) != 32:
            raise ValueError(f"operation {op_id}: bad account or reference")
        words += [bytes(12) + account, _word(op_id, 64), _word(rule_version, 32), _word(amount, 128), ref]
        count += 1
    return b"".join([AWARD_BATCH_SELECTOR, _word(32, 256), _word(count, 256), *words])


def _word(value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{value} does not fit in uint{bits}")
    return value.to_bytes(32, "big")


def b32(value: str | None) -> bytes:
    """A ``bytes32`` argument from its 0x-hex text."""
    raw = bytes.fromhex((value or "0x")[2:])
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {value!r}")
    return raw
