"""ItemPassports on a real Anvil: one passport per registered item, ever, issued only by the
issuer and only for an item the registry holds; its token id is the item's leaf (no serial on
chain); a custodial passport moves only by a relay of the issuer, a passport in a member's wallet
only by its holder; recalls read through the registry; pause stops everything."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

from backend.provenance.merkle import MerkleTree, item_commitment, item_leaf
from tests.contracts.conftest import Roles
from tests.contracts.helpers import GAS_REPORT, events, reverts, send

pytestmark = pytest.mark.chain

BRAND, MANUFACTURER = 1, 2
GTIN = 9506000134352
BRAND_PREFIX_KEY = 19506000
BRAND_ID, MAKER_ID = keccak(text="brand"), keccak(text="maker")
SERIALS = ["PASS-SN-0001", "PASS-SN-0002", "PASS-SN-0003"]
ZERO = "0x" + "00" * 20


@pytest.fixture
def items(registry: Contract, roles: Roles) -> tuple[MerkleTree, list[bytes]]:
    """Three items of the brand's GTIN registered in one batch."""
    send(roles.operator, registry.functions.setOrganisation(BRAND_ID, roles.brand.address, BRAND, True))
    send(roles.operator, registry.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, True))
    send(roles.operator, registry.functions.assignCompanyPrefix(BRAND_PREFIX_KEY, BRAND_ID))
    send(roles.brand, registry.functions.registerProduct(GTIN))
    send(roles.brand, registry.functions.setPartnerRoles(MAKER_ID, MANUFACTURER))
    commitments = [item_commitment(keccak(text=f"salt-{s}"), s) for s in SERIALS]
    tree = MerkleTree.build([item_leaf(GTIN, c) for c in commitments])
    send(roles.manufacturer, registry.functions.registerItems(GTIN, tree.root, len(SERIALS)))
    return tree, commitments


def claim(
    items: tuple[MerkleTree, list[bytes]], index: int, holder: str, operation_id: int, custodial: bool = True
) -> tuple[Any, ...]:
    tree, commitments = items
    return (holder, operation_id, GTIN, custodial, commitments[index], tree.root, tree.proof(index))


def custodial_address() -> str:
    return str(Account.create().address)  # a random address nobody keeps a key for, as the platform's


def test_one_passport_per_item_ever_with_the_item_leaf_as_token_id(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    holder = custodial_address()
    receipt = send(roles.issuer, passports.functions.issue(claim(items, 0, holder, 1)))
    token_id = int.from_bytes(item_leaf(GTIN, items[1][0]))
    assert events(passports, receipt, "PassportIssued") == [{"tokenId": token_id, "operationId": 1, "gtin": GTIN}]
    assert events(passports, receipt, "Transfer") == [{"from": ZERO, "to": holder, "tokenId": token_id}]
    assert passports.functions.ownerOf(token_id).call() == holder
    assert passports.functions.passportId(GTIN, items[1][0]).call() == token_id
    assert passports.functions.passport(token_id).call()[0] == GTIN
    assert passports.functions.tokenURI(token_id).call().endswith("/passports/0x" + f"{token_id:064x}")
    GAS_REPORT["ItemPassports.issue"] = receipt["gasUsed"]
    # the same item again, under another operation and to another holder: refused, ever
    reverts(
        roles.issuer, passports.functions.issue(claim(items, 0, roles.other.address, 2)), "ItemPassportsAlreadyIssued"
    )
    # the same operation id again (a retried transaction): refused, the sender confirms it instead
    reverts(roles.issuer, passports.functions.issue(claim(items, 1, holder, 1)), "ItemPassportsAlreadyAppliedOperation")
    reverts(roles.issuer, passports.functions.issue(claim(items, 1, holder, 0)), "ItemPassportsInvalidOperationId")
    assert passports.functions.isOperationApplied(1).call()
    assert not passports.functions.isOperationApplied(2).call()


def test_only_the_issuer_issues_and_only_for_a_registered_item(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    holder = custodial_address()
    for signer in (roles.stranger, roles.brand, roles.manufacturer, roles.admin, roles.operator):
        reverts(signer, passports.functions.issue(claim(items, 0, holder, 1)), "AccessControlUnauthorizedAccount")
        reverts(
            signer, passports.functions.issueBatch([claim(items, 0, holder, 1)]), "AccessControlUnauthorizedAccount"
        )
    tree, commitments = items
    forged = item_commitment(keccak(text="salt"), "NOT-REGISTERED")
    unknown = (holder, 1, GTIN, True, forged, tree.root, tree.proof(0))
    reverts(roles.issuer, passports.functions.issue(unknown), "ItemPassportsUnregisteredItem")
    other_gtin = (holder, 1, GTIN + 1, True, commitments[0], tree.root, tree.proof(0))
    reverts(roles.issuer, passports.functions.issue(other_gtin), "ItemPassportsUnregisteredItem")
    assert passports.functions.balanceOf(holder).call() == 0


def test_a_batch_issues_all_or_nothing(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    holders = [custodial_address() for _ in SERIALS]
    batch = [claim(items, i, holders[i], 10 + i) for i in range(len(SERIALS))]
    reverts(roles.issuer, passports.functions.issueBatch([*batch, batch[0]]), "ItemPassportsAlreadyAppliedOperation")
    assert all(passports.functions.balanceOf(h).call() == 0 for h in holders)
    receipt = send(roles.issuer, passports.functions.issueBatch(batch))
    assert len(events(passports, receipt, "PassportIssued")) == len(SERIALS)
    GAS_REPORT["ItemPassports.issueBatch(3) per passport"] = receipt["gasUsed"] / len(SERIALS)


def test_a_custodial_passport_moves_only_by_a_relay_and_a_wallet_one_only_by_its_holder(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    first, second = custodial_address(), custodial_address()
    send(roles.issuer, passports.functions.issue(claim(items, 0, first, 1)))
    token_id = passports.functions.passportId(GTIN, items[1][0]).call()
    for signer in (roles.stranger, roles.brand, roles.admin):  # nobody else relays
        reverts(
            signer, passports.functions.relayTransfer(2, token_id, second, True), "AccessControlUnauthorizedAccount"
        )
    receipt = send(roles.issuer, passports.functions.relayTransfer(2, token_id, second, True))
    assert events(passports, receipt, "Transfer") == [{"from": first, "to": second, "tokenId": token_id}]
    assert events(passports, receipt, "PassportRelayed") == [{"tokenId": token_id, "operationId": 2, "custodial": True}]
    # resold to a member holding their own wallet: out of custody from then on
    send(roles.issuer, passports.functions.relayTransfer(3, token_id, roles.other.address, False))
    assert passports.functions.ownerOf(token_id).call() == roles.other.address
    reverts(
        roles.issuer,
        passports.functions.relayTransfer(4, token_id, first, True),
        "ItemPassportsUnauthorizedRelay",
    )
    # a non-holder cannot move it; the holder can
    reverts(
        roles.stranger,
        passports.functions.transferFrom(roles.other.address, roles.stranger.address, token_id),
        "ERC721InsufficientApproval",
    )
    send(roles.other, passports.functions.transferFrom(roles.other.address, roles.stranger.address, token_id))
    assert passports.functions.ownerOf(token_id).call() == roles.stranger.address
    assert passports.functions.passport(token_id).call()[2] is False


def test_recalls_read_through_the_registry(
    passports: Contract, registry: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    commitments = items[1]
    send(roles.issuer, passports.functions.issue(claim(items, 1, custodial_address(), 1)))
    token_id = passports.functions.passportId(GTIN, commitments[1]).call()
    assert not passports.functions.isRecalled(token_id, commitments[1], bytes(32), []).call()
    scope = MerkleTree.build([item_leaf(GTIN, commitments[1])])
    send(roles.brand, registry.functions.recall(GTIN, scope.root, 1, keccak(text="fault")))
    assert passports.functions.isRecalled(token_id, commitments[1], scope.root, scope.proof(0)).call()


def test_pause_stops_issues_relays_and_transfers(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles
) -> None:
    send(roles.issuer, passports.functions.issue(claim(items, 0, custodial_address(), 1)))
    reverts(roles.stranger, passports.functions.pause(), "AccessControlUnauthorizedAccount")
    send(roles.admin, passports.functions.pause())
    reverts(roles.issuer, passports.functions.issue(claim(items, 1, custodial_address(), 2)), "EnforcedPause")


def test_no_serial_or_personal_data_in_calldata_or_events(
    passports: Contract, items: tuple[MerkleTree, list[bytes]], roles: Roles, clean_chain: Web3
) -> None:
    """Scan, as tests/security/test_privacy.py does, every byte the passports put on chain."""
    holder = custodial_address()
    receipts = [
        send(roles.issuer, passports.functions.issue(claim(items, 0, holder, 1))),
        send(roles.issuer, passports.functions.issueBatch([claim(items, 1, holder, 2), claim(items, 2, holder, 3)])),
    ]
    token_id = passports.functions.passportId(GTIN, items[1][0]).call()
    receipts.append(send(roles.issuer, passports.functions.relayTransfer(4, token_id, custodial_address(), True)))
    needles = [s.encode() for s in SERIALS] + [s.encode().hex().encode() for s in SERIALS]
    for receipt in receipts:
        tx = clean_chain.eth.get_transaction(receipt["transactionHash"])
        blobs = [bytes(tx["input"])] + [bytes(log["data"]) for log in receipt["logs"]]
        blobs += [bytes(topic) for log in receipt["logs"] for topic in log["topics"]]
        for blob in blobs:
            assert not any(needle in blob or needle in blob.hex().encode() for needle in needles)
