"""LoyaltyPoints on a real Anvil: roles, exactly-once operations, debt, pause, policy, permit, gas."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from backend.chain.local_signer import LocalSigner
from tests import permits
from tests.contracts.conftest import Roles
from tests.contracts.helpers import GAS_REPORT, events, reverts, send

pytestmark = pytest.mark.chain
REF = b"\x11" * 32


@pytest.fixture
def published(points: Contract, roles: Roles) -> Contract:
    send(roles.operator, points.functions.publishRuleSet(1, b"\x01" * 32))
    return points


def award(account: str, op: int, amount: int, version: int = 1) -> tuple[str, int, int, int, bytes]:
    return (account, op, version, amount, REF)


def fresh() -> str:
    return str(Account.create().address)


def test_metadata(points: Contract) -> None:
    assert points.functions.decimals().call() == 0
    assert points.functions.symbol().call() == "CRED"


def test_every_restricted_function_reverts_for_a_stranger(published: Contract, roles: Roles) -> None:
    p, s = published, roles.stranger
    alice = fresh()
    unauthorized = "AccessControlUnauthorizedAccount"
    for call in (
        p.functions.awardBatch([award(alice, 1, 5)]),
        p.functions.reverse(alice, 2, 1, REF),
        p.functions.redeemFor(alice, 3, 1, REF),
        p.functions.expireBatch([(alice, 4, 1)]),
        p.functions.transferFor(5, alice, fresh(), 1, REF),
        p.functions.claimWallet(6, alice, fresh()),
        p.functions.redeemWithPermit(alice, 7, 1, REF, 0, 27, b"\x00" * 32, b"\x00" * 32),
        p.functions.publishRuleSet(2, b"\x02" * 32),
        p.functions.setTransferPolicy(True, 0),
        p.functions.pause(),
        p.functions.unpause(),
        p.functions.grantRole(p.functions.ISSUER_ROLE().call(), s.address),
    ):
        reverts(s, call, unauthorized)


def test_award_batch_mints_and_emits_order_references(published: Contract, roles: Roles) -> None:
    alice, bob = fresh(), fresh()
    receipt = send(roles.issuer, published.functions.awardBatch([award(alice, 10, 25), award(bob, 11, 7)]))
    assert published.functions.balanceOf(alice).call() == 25
    assert published.functions.balanceOf(bob).call() == 7
    assert published.functions.totalSupply().call() == 32
    awarded = events(published, receipt, "PointsAwarded")
    assert [(e["account"], e["operationId"], e["amount"], e["orderRef"]) for e in awarded] == [
        (alice, 10, 25, REF),
        (bob, 11, 7, REF),
    ]


def test_an_operation_applies_once_and_a_replayed_batch_reverts_whole(published: Contract, roles: Roles) -> None:
    alice = fresh()
    send(roles.issuer, published.functions.awardBatch([award(alice, 20, 5)]))
    reverts(roles.issuer, published.functions.awardBatch([award(alice, 20, 5)]), "LoyaltyPointsAlreadyAppliedOperation")
    reverts(
        roles.issuer,
        published.functions.awardBatch([award(alice, 21, 5), award(alice, 20, 5)]),
        "LoyaltyPointsAlreadyAppliedOperation",
    )
    assert published.functions.balanceOf(alice).call() == 5
    assert published.functions.isOperationApplied(20).call()
    assert not published.functions.isOperationApplied(21).call()
    reverts(roles.issuer, published.functions.reverse(alice, 20, 1, REF), "LoyaltyPointsAlreadyAppliedOperation")


def test_award_needs_a_published_rule_set_and_a_positive_amount(published: Contract, roles: Roles) -> None:
    reverts(
        roles.issuer,
        published.functions.awardBatch([award(fresh(), 30, 5, version=9)]),
        "LoyaltyPointsNonexistentRuleSet",
    )
    reverts(roles.issuer, published.functions.awardBatch([award(fresh(), 31, 0)]), "LoyaltyPointsZeroAmount")
    reverts(roles.issuer, published.functions.awardBatch([award(fresh(), 0, 1)]), "LoyaltyPointsInvalidOperationId")
    reverts(roles.operator, published.functions.publishRuleSet(3, b"\x03" * 32), "LoyaltyPointsInvalidRuleSet")


def test_reversal_beyond_balance_becomes_debt_repaid_by_later_awards(published: Contract, roles: Roles) -> None:
    alice = fresh()
    send(roles.issuer, published.functions.awardBatch([award(alice, 40, 10)]))
    send(roles.issuer, published.functions.redeemFor(alice, 41, 8, REF))
    receipt = send(roles.issuer, published.functions.reverse(alice, 42, 10, REF))
    (reversed_,) = events(published, receipt, "PointsReversed")
    assert (reversed_["burned"], reversed_["debtIncurred"]) == (2, 8)
    assert published.functions.debtOf(alice).call() == 8
    receipt = send(roles.issuer, published.functions.awardBatch([award(alice, 43, 5)]))
    assert events(published, receipt, "PointsAwarded")[0]["debtRepaid"] == 5
    assert (published.functions.balanceOf(alice).call(), published.functions.debtOf(alice).call()) == (0, 3)
    send(roles.issuer, published.functions.awardBatch([award(alice, 44, 10)]))
    assert (published.functions.balanceOf(alice).call(), published.functions.debtOf(alice).call()) == (7, 0)


def test_redeem_needs_balance_and_expiry_burns_at_most_the_balance(published: Contract, roles: Roles) -> None:
    alice = fresh()
    send(roles.issuer, published.functions.awardBatch([award(alice, 50, 10)]))
    reverts(roles.issuer, published.functions.redeemFor(alice, 51, 11, REF), "ERC20InsufficientBalance")
    receipt = send(roles.issuer, published.functions.expireBatch([(alice, 52, 15)]))
    assert events(published, receipt, "PointsExpired")[0]["amount"] == 10
    assert published.functions.balanceOf(alice).call() == 0


def test_pause_stops_every_balance_change(published: Contract, roles: Roles, w3: Web3) -> None:
    alice = fresh()
    send(roles.admin, published.functions.pause())
    reverts(roles.issuer, published.functions.awardBatch([award(alice, 60, 1)]), "EnforcedPause")
    send(roles.admin, published.functions.unpause())
    send(roles.issuer, published.functions.awardBatch([award(alice, 60, 1)]))
    assert published.functions.balanceOf(alice).call() == 1


def test_member_transfers_follow_the_admin_policy_and_daily_cap(published: Contract, roles: Roles) -> None:
    alice, bob = fresh(), fresh()
    send(roles.issuer, published.functions.awardBatch([award(alice, 70, 100)]))
    reverts(
        roles.issuer, published.functions.transferFor(71, alice, bob, 10, REF), "LoyaltyPointsDisabledMemberTransfers"
    )
    send(roles.operator, published.functions.setTransferPolicy(True, 30))
    receipt = send(roles.issuer, published.functions.transferFor(71, alice, bob, 20, REF))
    assert events(published, receipt, "PointsTransferred")[0]["amount"] == 20
    reverts(
        roles.issuer, published.functions.transferFor(72, alice, bob, 11, REF), "LoyaltyPointsExceededDailyTransferCap"
    )
    reverts(roles.issuer, published.functions.transferFor(73, alice, alice, 1, REF), "LoyaltyPointsInvalidReceiver")
    assert published.functions.remainingTransferAllowance(alice).call() == 10


def test_claimed_wallet_is_self_custodied_and_redeems_with_a_permit(published: Contract, roles: Roles) -> None:
    custodial = fresh()
    wallet = Account.create()
    send(roles.issuer, published.functions.awardBatch([award(custodial, 80, 50)]))
    send(roles.issuer, published.functions.claimWallet(81, custodial, wallet.address))
    assert published.functions.balanceOf(wallet.address).call() == 50
    assert published.functions.isSelfCustodied(wallet.address).call()
    reverts(
        roles.issuer, published.functions.redeemFor(wallet.address, 82, 5, REF), "LoyaltyPointsSelfCustodiedAccount"
    )

    deadline = 2**40
    v, r, s = sign_permit(wallet, published, 5, nonce=0, deadline=deadline)
    call = published.functions.redeemWithPermit(wallet.address, 83, 5, REF, deadline, v, r, s)
    receipt = send(roles.issuer, call)
    assert events(published, receipt, "PointsRedeemed")[0]["amount"] == 5
    assert published.functions.balanceOf(wallet.address).call() == 45


def sign_permit(
    owner: LocalAccount, token: Contract, value: int, nonce: int, deadline: int = 2**40
) -> tuple[int, bytes, bytes]:
    """The owner's ERC-2612 permit for the token itself as spender, as a wallet signs it."""
    return permits.sign_permit(owner, token.address, value, nonce, deadline)


def test_an_old_allowance_is_never_redeemed_without_the_owners_permit(
    published: Contract, roles: Roles, w3: Web3
) -> None:
    """Finding 11: `redeemWithPermit` used to skip the permit when the owner had already given the
    token an allowance (an `approve`, or a permit someone submitted). The issuer then burned the
    owner's points with no signature at all. Now the owner's signature of exactly this
    redemption is checked every time, and no allowance is ever spent."""
    custodial, wallet = fresh(), Account.create()
    send(roles.issuer, published.functions.awardBatch([award(custodial, 90, 50)]))
    send(roles.issuer, published.functions.claimWallet(91, custodial, wallet.address))
    owner = LocalSigner(w3, wallet.key.to_0x_hex(), 31337)
    w3.provider.make_request("anvil_setBalance", [wallet.address, hex(10**18)])  # type: ignore[arg-type]
    send(owner, published.functions.approve(published.address, 40))  # an allowance given long ago
    nobody = (27, b"\x00" * 32, b"\x00" * 32)

    reverts(
        roles.issuer,
        published.functions.redeemWithPermit(wallet.address, 92, 40, REF, 2**40, *nobody),
        "ECDSAInvalidSignature",
    )
    forged = sign_permit(Account.create(), published, 40, nonce=0)  # signed by someone else
    reverts(
        roles.issuer,
        published.functions.redeemWithPermit(wallet.address, 93, 40, REF, 2**40, *forged),
        "ERC2612InvalidSigner",
    )
    other_amount = sign_permit(wallet, published, 10, nonce=0)  # the owner's, but for 10 points
    reverts(
        roles.issuer,
        published.functions.redeemWithPermit(wallet.address, 94, 40, REF, 2**40, *other_amount),
        "ERC2612InvalidSigner",
    )
    expired = sign_permit(wallet, published, 40, nonce=0, deadline=1)
    reverts(
        roles.issuer,
        published.functions.redeemWithPermit(wallet.address, 95, 40, REF, 1, *expired),
        "ERC2612ExpiredSignature",
    )
    assert published.functions.balanceOf(wallet.address).call() == 50
    assert published.functions.allowance(wallet.address, published.address).call() == 40
    assert not any(published.functions.isOperationApplied(op).call() for op in (92, 93, 94, 95))

    # A permit the owner signed is good once, for its amount, and leaves the old allowance alone.
    signed = sign_permit(wallet, published, 10, nonce=0)
    send(roles.issuer, published.functions.redeemWithPermit(wallet.address, 96, 10, REF, 2**40, *signed))
    reverts(
        roles.issuer,
        published.functions.redeemWithPermit(wallet.address, 97, 10, REF, 2**40, *signed),
        "ERC2612InvalidSigner",
    )
    assert published.functions.balanceOf(wallet.address).call() == 40
    assert published.functions.allowance(wallet.address, published.address).call() == 40


def test_only_the_program_manager_publishes_rules_and_sets_the_transfer_policy(
    published: Contract, roles: Roles
) -> None:
    """The deployer (DEFAULT_ADMIN_ROLE, meant for a multisig) grants roles and nothing else; the
    operator's PROGRAM_MANAGER_ROLE publishes rule sets and the transfer policy."""
    for signer in (roles.admin, roles.issuer, roles.stranger):
        reverts(signer, published.functions.publishRuleSet(2, b"\x02" * 32), "AccessControlUnauthorizedAccount")
        reverts(signer, published.functions.setTransferPolicy(True, 5), "AccessControlUnauthorizedAccount")
    send(roles.operator, published.functions.publishRuleSet(2, b"\x02" * 32))
    send(roles.operator, published.functions.setTransferPolicy(True, 5))
    assert published.functions.latestRuleVersion().call() == 2
    assert published.functions.dailyTransferCap().call() == 5


def test_gas_per_award(published: Contract, roles: Roles) -> None:
    """Reports gas per award for new and for returning customers (batch of 256)."""
    customers = [fresh() for _ in range(256)]
    first = send(
        roles.issuer, published.functions.awardBatch([award(a, 1000 + i, 10) for i, a in enumerate(customers)])
    )
    again = send(
        roles.issuer, published.functions.awardBatch([award(a, 2000 + i, 10) for i, a in enumerate(customers)])
    )
    GAS_REPORT["awardBatch gas/award, new customers (256)"] = first["gasUsed"] / 256
    GAS_REPORT["awardBatch gas/award, returning customers (256)"] = again["gasUsed"] / 256
    assert again["gasUsed"] / 256 <= 30_000
