"""References published on chain with each operation: hashes, so no order or customer data leaks."""

from __future__ import annotations

from eth_utils import keccak


def _ref(*parts: str) -> str:
    return "0x" + keccak(text=":".join(("credance", *parts))).hex()


def order_ref(store_id: str, order_id: str) -> str:
    return _ref("order", store_id, order_id)


def refund_ref(store_id: str, order_id: str, refund_id: str) -> str:
    return _ref("refund", store_id, order_id, refund_id)


def redemption_ref(address: str, redemption_id: str) -> str:
    return _ref("redemption", address.lower(), redemption_id)


def transfer_ref(address: str, transfer_id: str) -> str:
    return _ref("transfer", address.lower(), transfer_id)


def conversion_ref(partner_id: str, conversion_id: str) -> str:
    return _ref("partner", partner_id, conversion_id)
