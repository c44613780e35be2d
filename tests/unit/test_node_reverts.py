"""Reverts decode to our custom errors on every node, from the answers the nodes really gave.

``revert_payloads.json`` holds JSON-RPC answers captured from Anvil, Hardhat and Ganache (issue
17). Each goes through web3.py's own error handling (a provider that answers with it), as the
sender's simulation meets it, and must name the contract's error: on Ganache, a paused
contract's ``EnforcedPause`` is a wait, not a permanent refusal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.providers.base import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from backend.chain.reverts import Refusal, classify_refusal, decode_revert, register_artifacts, revert_data
from backend.settings import Settings

PAYLOADS: dict[str, Any] = json.loads((Path(__file__).parent / "revert_payloads.json").read_text())
NODES = ("anvil", "hardhat", "ganache")
CASES = {
    "already_applied": ("LoyaltyPointsAlreadyAppliedOperation", "(7)", Refusal.ALREADY_APPLIED),
    "paused": ("EnforcedPause", "()", Refusal.WAIT),
}


class Answering(BaseProvider):
    """Answers every request with one recorded JSON-RPC response."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__()
        self.response = response

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self.response  # type: ignore[return-value]

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


@pytest.fixture(scope="module", autouse=True)
def _errors_known() -> None:
    register_artifacts(Settings().build_dir)


def _raised(response: dict[str, Any], method: str) -> Exception:
    w3 = Web3(Answering(response))
    w3.middleware_onion.remove("validation")  # as backend.chain.client.connect does
    tx: Any = {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "data": "0x"}
    ask = w3.eth.call if method == "eth_call" else w3.eth.estimate_gas
    with pytest.raises(Web3Exception) as caught:
        ask(tx)
    return caught.value


@pytest.mark.parametrize("method", ["eth_estimateGas", "eth_call"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("node", NODES)
def test_every_node_revert_decodes_to_the_custom_error(node: str, case: str, method: str) -> None:
    name, arguments, refusal = CASES[case]
    exc = _raised(PAYLOADS[node][case][method], method)
    decoded, message = decode_revert(exc)
    assert decoded == name, (node, case, method, type(exc).__name__, getattr(exc, "data", None))
    assert message == f"{name}{arguments}"
    assert classify_refusal(decoded) is refusal


def test_ganache_estimate_keeps_its_data_under_result() -> None:
    """The shape that was missed before: ``error.data.result`` (a dict, not a string)."""
    error = PAYLOADS["ganache"]["paused"]["eth_estimateGas"]["error"]
    assert isinstance(error["data"], dict)
    assert error["data"]["result"] == "0xd93c0665"


def test_older_ganache_shape_and_message_fallback() -> None:
    """Ganache 6 keys the data by transaction hash; Hardhat also writes it in the message."""
    ganache6 = Web3Exception()
    ganache6.data = {"0x" + "ab" * 32: {"error": "revert", "return": "0xd93c0665"}, "stack": "…"}  # type: ignore[attr-defined]
    assert revert_data(ganache6) == "0xd93c0665"
    in_message = Web3Exception("reverted with an unrecognized custom error (return data: 0xd93c0665)")
    assert decode_revert(in_message)[0] == "EnforcedPause"


def test_no_revert_data_is_no_error_name() -> None:
    plain = Web3Exception("VM Exception while processing transaction: invalid opcode")
    plain.data = {"message": "invalid opcode", "result": "0x"}  # type: ignore[attr-defined]
    assert decode_revert(plain) == (None, "VM Exception while processing transaction: invalid opcode")
