"""What the verifier asks the pinned registry: a minimal ABI (so it needs nothing from the server
or this repository's build), the events it looks for, and the transaction check shared by every
proof: the transaction succeeded, is in the block claimed, that block is on the node's chain,
and it emitted the expected event from the pinned contract with the expected indexed values."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes

from backend.provenance.verifier.checks import Checks, need

_B32 = {"type": "bytes32"}
_U64 = {"type": "uint64"}
ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "isItemRegistered",
        "stateMutability": "view",
        "inputs": [_U64, _B32, _B32, {"type": "bytes32[]"}],
        "outputs": [{"type": "bool"}],
    },
    {
        "type": "function",
        "name": "isEventAnchored",
        "stateMutability": "view",
        "inputs": [_B32, _B32, {"type": "bytes32[]"}],
        "outputs": [{"type": "bool"}],
    },
    {
        "type": "function",
        "name": "itemBatches",
        "stateMutability": "view",
        "inputs": [_B32],
        "outputs": [_U64, {"type": "uint32"}, _U64, _B32],
    },
    {
        "type": "function",
        "name": "eventAnchors",
        "stateMutability": "view",
        "inputs": [_B32],
        "outputs": [_B32, {"type": "uint32"}, _U64],
    },
    {"type": "function", "name": "brandOf", "stateMutability": "view", "inputs": [_U64], "outputs": [_B32]},
    {
        "type": "function",
        "name": "isGtinRecalled",
        "stateMutability": "view",
        "inputs": [_U64],
        "outputs": [{"type": "bool"}],
    },
    {
        "type": "function",
        "name": "recallOfScope",
        "stateMutability": "view",
        "inputs": [_B32, _B32],
        "outputs": [{"type": "uint256"}],
    },
    {
        "type": "function",
        "name": "isItemRecalled",
        "stateMutability": "view",
        "inputs": [_U64, _B32, _B32, {"type": "bytes32[]"}],
        "outputs": [{"type": "bool"}],
    },
    {
        "type": "function",
        "name": "recalls",
        "stateMutability": "view",
        "inputs": [{"type": "uint256"}],
        "outputs": [_U64, {"type": "uint32"}, _U64, _B32, _B32],
    },
]
ITEMS_REGISTERED = keccak(text="ItemsRegistered(bytes32,uint64,bytes32,uint32)")
EVENTS_ANCHORED = keccak(text="EventsAnchored(bytes32,bytes32,uint32)")
RECALL_ISSUED = keccak(text="RecallIssued(uint256,uint64,bytes32,bytes32,uint32,bytes32)")


def uint_topic(value: int) -> bytes:
    return value.to_bytes(32, "big")


def check_transaction(
    checks: Checks, what: str, w3: Any, registry: str, claim: Any, topic: bytes, indexed: list[bytes]
) -> int | None:
    """Check ``claim``'s ``transaction`` and ``block_number`` (both required); the block's time if
    all is well, else None (the failures are in ``checks``)."""
    tx_hash = need(claim, "transaction", str)
    block_number = need(claim, "block_number", int)
    receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    if not checks.add(f"{what}: transaction succeeded", receipt["status"] == 1, tx_hash):
        return None
    in_block = int(receipt["blockNumber"]) == block_number
    checks.add(f"{what}: in the block claimed", in_block, f"block {receipt['blockNumber']}, claimed {block_number}")
    block = w3.eth.get_block(int(receipt["blockNumber"]))
    canonical = bytes(block["hash"]) == bytes(receipt["blockHash"])
    checks.add(f"{what}: block on this chain", canonical, HexBytes(block["hash"]).to_0x_hex())
    wanted = [topic, *indexed]
    emitted = any(
        log["address"].lower() == registry.lower() and [bytes(t) for t in log["topics"][: len(wanted)]] == wanted
        for log in receipt["logs"]
    )
    checks.add(f"{what}: event emitted by the pinned contract", emitted, f"{registry}")
    return int(block["timestamp"]) if in_block and canonical and emitted else None
