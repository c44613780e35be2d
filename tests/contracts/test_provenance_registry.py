"""ProvenanceRegistry on a real Anvil: organisation roles, company prefixes held by any
organisation, brand-owned GTINs under their own prefixes, authorised manufacturers, partner roles
granted and revoked, Merkle item batches and event anchors, recalls tied to their brand, pause."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from web3.contract import Contract
from web3.exceptions import ContractCustomError

from backend.chain.reverts import decode_revert
from backend.provenance.merkle import MerkleTree, event_leaf, item_commitment, item_leaf
from tests.contracts.conftest import Roles
from tests.contracts.helpers import GAS_REPORT, events, reverts, send

pytestmark = pytest.mark.chain

BRAND, MANUFACTURER, DISTRIBUTOR = 1, 2, 4
GTIN = 9506000134352
BRAND_PREFIX_KEY = 19506000  # prefix 9506000 (7 digits)
BRAND_ID, MAKER_ID, OTHER_ID = keccak(text="brand"), keccak(text="maker"), keccak(text="other")


@pytest.fixture
def orgs(registry: Contract, roles: Roles) -> Contract:
    send(roles.operator, registry.functions.setOrganisation(BRAND_ID, roles.brand.address, BRAND, True))
    send(roles.operator, registry.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, True))
    send(roles.operator, registry.functions.setOrganisation(OTHER_ID, roles.other.address, MANUFACTURER, True))
    send(roles.operator, registry.functions.assignCompanyPrefix(BRAND_PREFIX_KEY, BRAND_ID))
    send(roles.brand, registry.functions.registerProduct(GTIN))
    send(roles.brand, registry.functions.setPartnerRoles(MAKER_ID, MANUFACTURER))
    return registry


def batch(serials: list[str]) -> tuple[MerkleTree, list[bytes]]:
    commitments = [item_commitment(bytes([i]) * 32, s) for i, s in enumerate(serials)]
    return MerkleTree.build([item_leaf(GTIN, c) for c in commitments]), commitments


def test_every_restricted_function_reverts_for_a_stranger(orgs: Contract, roles: Roles) -> None:
    s = roles.stranger
    reverts(
        s, orgs.functions.setOrganisation(keccak(text="x"), s.address, BRAND, True), "AccessControlUnauthorizedAccount"
    )
    reverts(s, orgs.functions.pause(), "AccessControlUnauthorizedAccount")
    reverts(s, orgs.functions.unpause(), "AccessControlUnauthorizedAccount")
    reverts(s, orgs.functions.registerProduct(12345678), "ProvenanceUnauthorizedAccount")
    reverts(s, orgs.functions.setPartnerRoles(MAKER_ID, MANUFACTURER), "ProvenanceUnauthorizedAccount")
    reverts(s, orgs.functions.setPartnerRoles(MAKER_ID, 0), "ProvenanceUnauthorizedAccount")  # revoking too
    reverts(s, orgs.functions.assignCompanyPrefix(BRAND_PREFIX_KEY, OTHER_ID), "AccessControlUnauthorizedAccount")
    reverts(s, orgs.functions.registerItems(GTIN, b"\x01" * 32, 1), "ProvenanceUnauthorizedAccount")
    reverts(s, orgs.functions.anchorEvents(b"\x01" * 32, 1), "ProvenanceUnauthorizedAccount")
    reverts(s, orgs.functions.recall(GTIN, bytes(32), 0, bytes(32)), "ProvenanceUnauthorizedAccount")


def test_a_brand_owns_its_gtins(orgs: Contract, roles: Roles) -> None:
    assert orgs.functions.brandOf(GTIN).call() == BRAND_ID
    reverts(roles.brand, orgs.functions.registerProduct(GTIN), "ProvenanceAlreadyRegisteredProduct")
    reverts(roles.manufacturer, orgs.functions.registerProduct(1234), "ProvenanceUnauthorizedAccount")
    reverts(roles.brand, orgs.functions.registerProduct(10**14), "ProvenanceInvalidGtin")


def test_only_an_authorised_manufacturer_registers_items(orgs: Contract, roles: Roles) -> None:
    tree, commitments = batch(["SN1", "SN2", "SN3"])
    reverts(roles.other, orgs.functions.registerItems(GTIN, tree.root, 3), "ProvenanceUnauthorizedPartner")
    receipt = send(roles.manufacturer, orgs.functions.registerItems(GTIN, tree.root, 3))
    assert events(orgs, receipt, "ItemsRegistered")[0]["manufacturerId"] == MAKER_ID
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN, tree.root, 3), "ProvenanceInvalidBatch")
    for index, commitment in enumerate(commitments):
        assert orgs.functions.isItemRegistered(GTIN, commitment, tree.root, tree.proof(index)).call()
    assert not orgs.functions.isItemRegistered(GTIN, b"\x09" * 32, tree.root, tree.proof(0)).call()
    assert not orgs.functions.isItemRegistered(GTIN + 1, commitments[0], tree.root, tree.proof(0)).call()
    send(roles.brand, orgs.functions.setPartnerRoles(MAKER_ID, 0))
    tree2, _ = batch(["SN9"])
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN, tree2.root, 1), "ProvenanceUnauthorizedPartner")


def test_items_of_an_unregistered_gtin_and_prefix_keys_beyond_uint64_are_refused(orgs: Contract, roles: Roles) -> None:
    tree, _ = batch(["SN1"])
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN + 1, tree.root, 1), "ProvenanceNonexistentProduct")
    # prefixKey once cast 10 ** digits to uint64 by hand, which wrapped silently; SafeCast refuses.
    assert orgs.functions.prefixKey(0, 19).call() == 10**19
    with pytest.raises(ContractCustomError) as raised:
        orgs.functions.prefixKey(0, 20).call()
    assert decode_revert(raised.value)[0] == "SafeCastOverflowedUintDowncast"


def test_event_anchors_prove_inclusion(orgs: Contract, roles: Roles) -> None:
    hashes = [keccak(text=f"event-{i}") for i in range(5)]
    tree = MerkleTree.build([event_leaf(h) for h in hashes])
    receipt = send(roles.manufacturer, orgs.functions.anchorEvents(tree.root, 5))
    assert events(orgs, receipt, "EventsAnchored")[0]["orgId"] == MAKER_ID
    assert all(orgs.functions.isEventAnchored(h, tree.root, tree.proof(i)).call() for i, h in enumerate(hashes))


def test_recall_by_the_owning_brand_only(orgs: Contract, roles: Roles) -> None:
    reverts(roles.other, orgs.functions.recall(GTIN, bytes(32), 0, bytes(32)), "ProvenanceUnauthorizedAccount")
    tree, _ = batch(["SN1", "SN2"])
    receipt = send(roles.brand, orgs.functions.recall(GTIN, tree.root, 2, keccak(text="contamination")))
    assert events(orgs, receipt, "RecallIssued")[0]["recallId"] == 1
    assert orgs.functions.recallOfScope(BRAND_ID, tree.root).call() == 1
    assert orgs.functions.recallOfScope(OTHER_ID, tree.root).call() == 0
    send(roles.brand, orgs.functions.recall(GTIN, bytes(32), 0, keccak(text="all")))
    assert orgs.functions.isGtinRecalled(GTIN).call()


def test_suspended_organisation_and_pause_stop_writes(orgs: Contract, roles: Roles) -> None:
    send(roles.operator, orgs.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, False))
    reverts(roles.manufacturer, orgs.functions.anchorEvents(b"\x02" * 32, 1), "ProvenanceUnauthorizedAccount")
    reverts(
        roles.operator,
        orgs.functions.setOrganisation(OTHER_ID, roles.manufacturer.address, BRAND, True),
        "ProvenanceInvalidController",
    )
    send(roles.admin, orgs.functions.grantRole(orgs.functions.PAUSER_ROLE().call(), roles.admin.address))
    send(roles.admin, orgs.functions.pause())
    reverts(roles.other, orgs.functions.anchorEvents(b"\x03" * 32, 1), "EnforcedPause")


def test_company_prefixes_reserve_gtins_for_their_brand(orgs: Contract, roles: Roles) -> None:
    rival = keccak(text="rival")
    send(roles.operator, orgs.functions.setOrganisation(rival, roles.stranger.address, BRAND, True))
    key = orgs.functions.prefixKey(9506000, 7).call()
    assert key == BRAND_PREFIX_KEY
    reverts(roles.stranger, orgs.functions.assignCompanyPrefix(key, rival), "AccessControlUnauthorizedAccount")
    reverts(roles.operator, orgs.functions.assignCompanyPrefix(123, BRAND_ID), "ProvenanceInvalidPrefixKey")
    reverts(
        roles.operator, orgs.functions.assignCompanyPrefix(key, keccak(text="nobody")), "ProvenanceInvalidOrganisation"
    )
    assert orgs.functions.ownerOfPrefix(key).call() == BRAND_ID
    assert orgs.functions.prefixOwnerOf(9506000134369).call() == [BRAND_ID, key]
    reverts(roles.stranger, orgs.functions.registerProduct(9506000134369), "ProvenanceIncorrectPrefixOwner")
    send(roles.brand, orgs.functions.registerProduct(9506000134369))
    # No squatting: with no prefix assigned at all, no brand registers anything.
    reverts(roles.stranger, orgs.functions.registerProduct(4012345000016), "ProvenanceUnassignedCompanyPrefix")
    reverts(roles.brand, orgs.functions.registerProduct(4012345000016), "ProvenanceUnassignedCompanyPrefix")
    # Leading zeros count: prefix 0614141 is not prefix 614141, nor 0061414.
    send(roles.operator, orgs.functions.assignCompanyPrefix(orgs.functions.prefixKey(614141, 7).call(), rival))
    reverts(roles.brand, orgs.functions.registerProduct(614141123452), "ProvenanceIncorrectPrefixOwner")
    reverts(roles.brand, orgs.functions.registerProduct(61414112345), "ProvenanceUnassignedCompanyPrefix")  # 0061414…
    receipt = send(
        roles.operator, orgs.functions.assignCompanyPrefix(orgs.functions.prefixKey(61414, 7).call(), BRAND_ID)
    )
    assert events(orgs, receipt, "CompanyPrefixAssigned")[0] == {"prefixKey": 10061414, "orgId": BRAND_ID}
    send(roles.brand, orgs.functions.registerProduct(61414112345))


def test_any_organisation_may_hold_a_prefix_but_only_brands_register_gtins(orgs: Contract, roles: Roles) -> None:
    """A logistics company owns the SSCCs under its prefix; holding a prefix makes no one a brand."""
    haulier_key = orgs.functions.prefixKey(4012345, 7).call()
    send(roles.operator, orgs.functions.assignCompanyPrefix(haulier_key, MAKER_ID))  # MAKER_ID is no brand
    assert orgs.functions.ownerOfPrefix(haulier_key).call() == MAKER_ID
    reverts(roles.manufacturer, orgs.functions.registerProduct(4012345000016), "ProvenanceUnauthorizedAccount")
    reverts(roles.brand, orgs.functions.registerProduct(4012345000016), "ProvenanceIncorrectPrefixOwner")
    # The holder authorises partners for what it owns, as a brand does for its products.
    receipt = send(roles.manufacturer, orgs.functions.setPartnerRoles(OTHER_ID, DISTRIBUTOR))
    assert events(orgs, receipt, "PartnerRolesUpdated")[0] == {
        "ownerId": MAKER_ID,
        "partnerId": OTHER_ID,
        "roles": DISTRIBUTOR,
    }
    assert orgs.functions.partnerRoles(MAKER_ID, OTHER_ID).call() == DISTRIBUTOR
    # ... which gives nothing over the brand's GTINs: registering items needs the GTIN's brand.
    send(roles.manufacturer, orgs.functions.setPartnerRoles(OTHER_ID, MANUFACTURER))
    tree, _ = batch(["SN7"])
    reverts(roles.other, orgs.functions.registerItems(GTIN, tree.root, 1), "ProvenanceUnauthorizedPartner")


def test_a_suspended_partner_can_be_revoked_but_not_granted(orgs: Contract, roles: Roles) -> None:
    assert orgs.functions.partnerRoles(BRAND_ID, MAKER_ID).call() == MANUFACTURER
    send(roles.operator, orgs.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, False))
    reverts(roles.brand, orgs.functions.setPartnerRoles(MAKER_ID, DISTRIBUTOR), "ProvenanceInvalidOrganisation")
    receipt = send(roles.brand, orgs.functions.setPartnerRoles(MAKER_ID, 0))
    assert events(orgs, receipt, "PartnerRolesUpdated")[0]["roles"] == 0
    assert orgs.functions.partnerRoles(BRAND_ID, MAKER_ID).call() == 0
    # Reinstated, it has nothing until the brand grants again.
    send(roles.operator, orgs.functions.setOrganisation(MAKER_ID, roles.manufacturer.address, MANUFACTURER, True))
    tree, _ = batch(["SN8"])
    reverts(roles.manufacturer, orgs.functions.registerItems(GTIN, tree.root, 1), "ProvenanceUnauthorizedPartner")
    # Nothing to revoke for an organisation that was never admitted; bad role bits are refused.
    reverts(roles.brand, orgs.functions.setPartnerRoles(keccak(text="nobody"), 0), "ProvenanceInvalidOrganisation")
    reverts(roles.brand, orgs.functions.setPartnerRoles(OTHER_ID, 16), "ProvenanceInvalidOrganisation")


def test_a_recall_scope_counts_only_for_the_recalling_brands_items(orgs: Contract, roles: Roles) -> None:
    """The old exploit: another brand commits a scope holding this brand's item leaf. The scope is
    accepted (its root is opaque) but never recalls an item of a GTIN it does not own."""
    rival, rival_gtin = keccak(text="rival"), 4012345000016
    send(roles.operator, orgs.functions.setOrganisation(rival, roles.stranger.address, BRAND, True))
    send(roles.operator, orgs.functions.assignCompanyPrefix(orgs.functions.prefixKey(4012345, 7).call(), rival))
    send(roles.stranger, orgs.functions.registerProduct(rival_gtin))
    victim, own = item_commitment(b"\x0a" * 32, "SN1"), item_commitment(b"\x0b" * 32, "R1")
    scope = MerkleTree.build([item_leaf(GTIN, victim), item_leaf(rival_gtin, own)])
    receipt = send(roles.stranger, orgs.functions.recall(rival_gtin, scope.root, 2, keccak(text="own item")))
    assert events(orgs, receipt, "RecallIssued")[0]["brandId"] == rival
    assert orgs.functions.isItemRecalled(rival_gtin, own, scope.root, scope.proof(1)).call()
    assert not orgs.functions.isItemRecalled(GTIN, victim, scope.root, scope.proof(0)).call()
    # Taking the brand's scope root first blocks nothing: scopes are keyed by brand.
    receipt = send(roles.brand, orgs.functions.recall(GTIN, scope.root, 2, keccak(text="real recall")))
    assert orgs.functions.recallOfScope(BRAND_ID, scope.root).call() == 2
    assert orgs.functions.isItemRecalled(GTIN, victim, scope.root, scope.proof(0)).call()
    # A wrong proof, an unknown root or the zero root recall nothing; a whole-GTIN recall all.
    assert not orgs.functions.isItemRecalled(GTIN, victim, scope.root, scope.proof(1)).call()
    assert not orgs.functions.isItemRecalled(GTIN, victim, b"\x07" * 32, scope.proof(0)).call()
    assert not orgs.functions.isItemRecalled(GTIN, victim, bytes(32), []).call()
    assert not orgs.functions.isItemRecalled(GTIN + 17, victim, scope.root, scope.proof(0)).call()  # no brand
    send(roles.brand, orgs.functions.recall(GTIN, bytes(32), 0, keccak(text="all")))
    assert orgs.functions.isItemRecalled(GTIN, keccak(text="any"), bytes(32), []).call()


def test_anchoring_costs_under_3000_gas_per_event_at_batch_256(orgs: Contract, roles: Roles) -> None:
    hashes = [keccak(text=f"epcis-event-{i}") for i in range(256)]
    tree = MerkleTree.build([event_leaf(h) for h in hashes])
    receipt = send(roles.manufacturer, orgs.functions.anchorEvents(tree.root, 256))
    per_event = receipt["gasUsed"] / 256
    GAS_REPORT["anchorEvents, gas per event at batch 256"] = per_event
    assert per_event <= 3_000
