"""The hex-slicing log decoder agrees with web3.py's own decoding, and refuses malformed logs."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3._utils.events import get_event_data

from backend.indexer.decoder import LogDecoder, MalformedLog
from tests.budget import examples

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
EVENT: dict[str, Any] = {
    "type": "event",
    "name": "Sampled",
    "anonymous": False,
    "inputs": [
        {"name": "who", "type": "address", "indexed": True},
        {"name": "id", "type": "uint64", "indexed": True},
        {"name": "ref", "type": "bytes32", "indexed": False},
        {"name": "amount", "type": "uint256", "indexed": False},
        {"name": "delta", "type": "int128", "indexed": False},
        {"name": "flag", "type": "bool", "indexed": False},
        {"name": "roles", "type": "uint8", "indexed": False},
    ],
}
DYNAMIC: dict[str, Any] = {
    "type": "event",
    "name": "Noted",
    "anonymous": False,
    "inputs": [{"name": "who", "type": "address", "indexed": True}, {"name": "note", "type": "string"}],
}
TOPIC = "0x" + bytes(event_abi_to_log_topic(EVENT)).hex()  # type: ignore[arg-type]
decoder = LogDecoder({"Sample": (ADDRESS, [EVENT, DYNAMIC])})


def raw_log(who: str, ident: int, data: bytes, topics: list[str] | None = None) -> dict[str, Any]:
    return {
        "address": ADDRESS.lower(),
        "topics": topics
        if topics is not None
        else [TOPIC, "0x" + abi_encode(["address"], [who]).hex(), "0x" + abi_encode(["uint64"], [ident]).hex()],
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": "0x3",
    }


addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))


@settings(max_examples=examples(200, 2000), deadline=None)
@given(
    who=addresses,
    ident=st.integers(0, 2**64 - 1),
    ref=st.binary(min_size=32, max_size=32),
    amount=st.integers(0, 2**256 - 1),
    delta=st.integers(-(2**127), 2**127 - 1),
    flag=st.booleans(),
    roles=st.integers(0, 255),
)
def test_agrees_with_web3(who: str, ident: int, ref: bytes, amount: int, delta: int, flag: bool, roles: int) -> None:
    data = abi_encode(["bytes32", "uint256", "int128", "bool", "uint8"], [ref, amount, delta, flag, roles])
    log = raw_log(who, ident, data)
    ours = decoder.decode(log)
    assert ours is not None
    web3_log = {**log, "blockNumber": 16, "logIndex": 3, "transactionIndex": 0, "address": ADDRESS}
    theirs = get_event_data(Web3().codec, EVENT, web3_log)  # type: ignore[arg-type]
    expected = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in theirs["args"].items()}
    assert ours.args == expected
    assert (ours.contract, ours.name, ours.block_number, ours.log_index) == ("Sample", "Sampled", 16, 3)
    assert ours.block_hash == "0x" + "ab" * 32  # normalised to lower case


def test_dynamic_parameters_decode_through_eth_abi() -> None:
    topic = "0x" + bytes(event_abi_to_log_topic(DYNAMIC)).hex()  # type: ignore[arg-type]
    who = "0x" + abi_encode(["address"], [ADDRESS]).hex()
    event = decoder.decode(raw_log(ADDRESS, 0, abi_encode(["string"], ["hello"]), topics=[topic, who]))
    assert event is not None
    assert event.args == {"who": ADDRESS, "note": "hello"}


def test_logs_that_are_not_ours_decode_to_nothing() -> None:
    data = abi_encode(["bytes32", "uint256", "int128", "bool", "uint8"], [b"\0" * 32, 1, 1, True, 1])
    assert decoder.decode({**raw_log(ADDRESS, 1, data), "address": "0x" + "11" * 20}) is None
    assert decoder.decode(raw_log(ADDRESS, 1, data, topics=["0x" + "22" * 32])) is None
    assert decoder.decode(raw_log(ADDRESS, 1, data, topics=[])) is None


@pytest.mark.parametrize(
    "change",
    [
        {"data": "0x" + "00" * 31},  # truncated data
        {"data": "0x" + "00" * 32 * 6},  # one word too many
        {"topics": [TOPIC]},  # indexed arguments missing
    ],
)
def test_malformed_logs_are_refused(change: dict[str, Any]) -> None:
    data = abi_encode(["bytes32", "uint256", "int128", "bool", "uint8"], [b"\0" * 32, 1, 1, True, 1])
    with pytest.raises(MalformedLog):
        decoder.decode({**raw_log(ADDRESS, 1, data), **change})
