"""ERC-2612 permits for the points token, signed as a wallet signs them (one copy for every test)."""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data

from backend.chain.deploy import TOKEN_NAME
from backend.settings import DEV_CHAIN_ID


def permit_typed_data(
    token: str, owner: str, value: int, nonce: int, deadline: int = 2**40, chain_id: int = DEV_CHAIN_ID
) -> dict[str, Any]:
    """EIP-712 typed data of a permit of ``value`` points to the token contract itself as spender."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": TOKEN_NAME, "version": "1", "chainId": chain_id, "verifyingContract": token},
        "message": {"owner": owner, "spender": token, "value": value, "nonce": nonce, "deadline": deadline},
    }


def sign_permit(
    account: Any, token: str, value: int, nonce: int, deadline: int = 2**40, chain_id: int = DEV_CHAIN_ID
) -> tuple[int, bytes, bytes]:
    """``(v, r, s)`` of ``account``'s permit (an eth-account ``LocalAccount``)."""
    typed = permit_typed_data(token, account.address, value, nonce, deadline, chain_id)
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
