"""ProvenanceRegistry on a real Anvil: organisation roles, brand-owned GTINs, authorised
manufacturers, Merkle item batches and event anchors, recalls, pause."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from web3.contract import Contract

from backend.provenance.merkle import MerkleTree, event_leaf, item_commitment, item_leaf
from tests.contracts.conftest import Roles
from tests.contracts.helpers import GAS_REPORT, events, reverts, send

pytestmark = pytest.mark.chain

BRAND, MANUFACTURER, DISTRIBUTOR = 1, 2, 4
GTIN = 9506000134352
BRAND_ID, MAKER_ID, OTHER_ID = keccak(text="brand"), keccak(text="maker"), keccak(text="other")


@pytest.fixture
def orgs(registry: Contract, roles: Roles) -> Contract:
    send(roles.operator, registry.functions.setOrganisation(BRAND_ID, roles.brand.address, BRAND, True))
    send(roles.operator, registry.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, True))
    send(roles.operator, registry.functions.setOrganisation(OTHER_ID, roles.other.address, MANUFACTURER, True))
    send(roles.brand, registry.functions.registerProduct(GTIN))
    send(roles.brand, registry.functions.setPartnerRoles(MAKER_ID, MANUFACTURER))
    return registry


def batch(serials: list[str]) -> tuple[MerkleTree, list[bytes]]:
    commitments = [item_commitment(bytes([i]) * 32, s) for i, s in enumerate(serials)]
    return MerkleTree.build([item_leaf(GTIN, c) for c in commitments]), commitments


def test_every_restricted_function_reverts_for_a_stranger(orgs: Contract, roles: Roles) -> None:
    s = roles.stranger
    reverts(s, orgs.functions.setOrganisation(keccak(text="x"), s.address, BRAND, True),
            "AccessControlUnauthorizedAccount")  # fmt: skip
    reverts(s, orgs.functions.pause(), "AccessControlUnauthorizedAccount")
    reverts(s, orgs.functions.unpause(), "AccessControlUnauthorizedAccount")
    reverts(s, orgs.functions.registerProduct(12345678), "UnauthorisedOrganisation")
    reverts(s, orgs.functions.setPartnerRoles(MAKER_ID, MANUFACTURER), "UnauthorisedOrganisation")
    reverts(s, orgs.functions.registerItems(GTIN, b"\x01" * 32, 1), "UnauthorisedOrganisation")
    reverts(s, orgs.functions.anchorEvents(b"\x01" * 32, 1), "UnauthorisedOrganisation")
    reverts(s, orgs.functions.recall(GTIN, bytes(32), 0, bytes(32)), "UnauthorisedOrganisation")


def test_a_brand_owns_its_gtins(orgs: Contract, roles: Roles) -> None:
    assert orgs.functions.brandOf(GTIN).call() == BRAND_ID
    reverts(roles.brand, orgs.functions.registerProduct(GTIN), "ProductAlreadyRegistered")
    reverts(roles.manufacturer, orgs.functions.registerProduct(1234), "UnauthorisedOrganisation")
    reverts(roles.brand, orgs.functions.registerProduct(10**14), "InvalidGtin")


def test_only_an_authorised_manufacturer_registers_items(orgs: Contract, roles: Roles) -> None:
    tree, commitments = batch(["SN1", "SN2", "SN3"])
    reverts(roles.other, orgs.functions.registerItems(GTIN, tree.root, 3), "NotAuthorisedByBrand")
    receipt = send(roles.manufacturer, orgs.functions.registerItems(GTIN, tree.root, 3))
    assert events(orgs, receipt, "ItemsRegistered")[0]["manufacturerId"] == MAKER_ID
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN, tree.root, 3), "InvalidBatch")
    for index, commitment in enumerate(commitments):
        assert orgs.functions.isItemRegistered(GTIN, commitment, tree.root, tree.proof(index)).call()
    assert not orgs.functions.isItemRegistered(GTIN, b"\x09" * 32, tree.root, tree.proof(0)).call()
    assert not orgs.functions.isItemRegistered(GTIN + 1, commitments[0], tree.root, tree.proof(0)).call()
    send(roles.brand, orgs.functions.setPartnerRoles(MAKER_ID, 0))
    tree2, _ = batch(["SN9"])
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN, tree2.root, 1), "NotAuthorisedByBrand")


def test_event_anchors_prove_inclusion(orgs: Contract, roles: Roles) -> None:
    hashes = [keccak(text=f"event-{i}") for i in range(5)]
    tree = MerkleTree.build([event_leaf(h) for h in hashes])
    receipt = send(roles.manufacturer, orgs.functions.anchorEvents(tree.root, 5))
    assert events(orgs, receipt, "EventsAnchored")[0]["orgId"] == MAKER_ID
    assert all(orgs.functions.isEventAnchored(h, tree.root, tree.proof(i)).call() for i, h in enumerate(hashes))


def test_recall_by_the_owning_brand_only(orgs: Contract, roles: Roles) -> None:
    reverts(roles.other, orgs.functions.recall(GTIN, bytes(32), 0, bytes(32)), "UnauthorisedOrganisation")
    tree, _ = batch(["SN1", "SN2"])
    receipt = send(roles.brand, orgs.functions.recall(GTIN, tree.root, 2, keccak(text="contamination")))
    assert events(orgs, receipt, "RecallIssued")[0]["recallId"] == 1
    assert orgs.functions.recallOfScope(tree.root).call() == 1
    send(roles.brand, orgs.functions.recall(GTIN, bytes(32), 0, keccak(text="all")))
    assert orgs.functions.isGtinRecalled(GTIN).call()


def test_suspended_organisation_and_pause_stop_writes(orgs: Contract, roles: Roles) -> None:
    send(roles.operator, orgs.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, False))
    reverts(roles.manufacturer, orgs.functions.anchorEvents(b"\x02" * 32, 1), "UnauthorisedOrganisation")
    reverts(roles.operator, orgs.functions.setOrganisation(OTHER_ID, roles.manufacturer.address, BRAND, True),
            "ControllerInUse")  # fmt: skip
    send(roles.admin, orgs.functions.grantRole(orgs.functions.PAUSER_ROLE().call(), roles.admin.address))
    send(roles.admin, orgs.functions.pause())
    reverts(roles.other, orgs.functions.anchorEvents(b"\x03" * 32, 1), "EnforcedPause")


def test_company_prefixes_reserve_gtins_for_their_brand(orgs: Contract, roles: Roles) -> None:
    rival = keccak(text="rival")
    send(roles.operator, orgs.functions.setOrganisation(rival, roles.stranger.address, BRAND, True))
    key = orgs.functions.prefixKey(9506000, 7).call()
    assert key == 19506000
    reverts(roles.stranger, orgs.functions.assignCompanyPrefix(key, rival), "AccessControlUnauthorizedAccount")
    reverts(roles.operator, orgs.functions.assignCompanyPrefix(123, BRAND_ID), "InvalidPrefix")
    reverts(roles.operator, orgs.functions.assignCompanyPrefix(key, MAKER_ID), "InvalidOrganisation")  # not a brand
    receipt = send(roles.operator, orgs.functions.assignCompanyPrefix(key, BRAND_ID))
    assert events(orgs, receipt, "CompanyPrefixAssigned")[0] == {"prefixKey": key, "brandId": BRAND_ID}
    assert orgs.functions.prefixOwnerOf(9506000134369).call() == [BRAND_ID, key]
    reverts(roles.stranger, orgs.functions.registerProduct(9506000134369), "PrefixOwnedByAnotherBrand")
    send(roles.brand, orgs.functions.registerProduct(9506000134369))
    # Leading zeros count: prefix 0614141 is not prefix 614141.
    send(roles.operator, orgs.functions.assignCompanyPrefix(orgs.functions.prefixKey(614141, 7).call(), rival))
    reverts(roles.brand, orgs.functions.registerProduct(614141123452), "PrefixOwnedByAnotherBrand")
    send(roles.brand, orgs.functions.registerProduct(61414112345))  # GTIN 00061414112345: prefix 0061414…


def test_anchoring_costs_under_3000_gas_per_event_at_batch_256(orgs: Contract, roles: Roles) -> None:
    hashes = [keccak(text=f"epcis-event-{i}") for i in range(256)]
    tree = MerkleTree.build([event_leaf(h) for h in hashes])
    receipt = send(roles.manufacturer, orgs.functions.anchorEvents(tree.root, 256))
    per_event = receipt["gasUsed"] / 256
    GAS_REPORT["anchorEvents, gas per event at batch 256"] = per_event
    assert per_event <= 3_000
