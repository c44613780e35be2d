"""Organisation roles: bit flags shared with ProvenanceRegistry."""

from __future__ import annotations

from enum import IntFlag

from eth_utils import keccak


class OrgRole(IntFlag):
    BRAND = 1
    MANUFACTURER = 2
    DISTRIBUTOR = 4
    RETAILER = 8


ROLE_NAMES = {
    "brand": OrgRole.BRAND,
    "manufacturer": OrgRole.MANUFACTURER,
    "distributor": OrgRole.DISTRIBUTOR,
    "retailer": OrgRole.RETAILER,
}


def roles_from_names(names: list[str]) -> int:
    return int(sum((ROLE_NAMES[n] for n in set(names)), OrgRole(0)))


def role_names(mask: int) -> list[str]:
    return [name for name, flag in ROLE_NAMES.items() if mask & flag]


def org_chain_id(slug: str) -> str:
    """bytes32 id of an organisation on chain."""
    return "0x" + keccak(text=f"credance:org:{slug}").hex()
