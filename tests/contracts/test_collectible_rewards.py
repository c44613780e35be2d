"""CollectibleRewards on a real Anvil: an edition's cap is fixed at creation and never exceeded
(single or batched mints, all or nothing), only the issuer mints and only the operator creates
editions and opens polls, each mint's operation id is usable once, copies move by their holder
only (the issuer relays only copies held in custody, never more), and a poll takes one vote per
holder (direct or relayed by the issuer)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from tests.contracts.conftest import Roles
from tests.contracts.helpers import GAS_REPORT, events, reverts, send

pytestmark = pytest.mark.chain

EDITION, OTHER_EDITION = 7, 8
ZERO = "0x" + "00" * 20


def mint(
    holder: str, operation_id: int, amount: int = 1, edition: int = EDITION, custodial: bool = False
) -> tuple[Any, ...]:
    return (holder, operation_id, edition, amount, custodial)


def custodial_address() -> str:
    return str(Account.create().address)


@pytest.fixture
def edition(collectibles: Contract, roles: Roles) -> int:
    send(roles.operator, collectibles.functions.createEdition(EDITION, 3))
    return EDITION


def test_the_cap_is_fixed_at_creation_and_never_exceeded(collectibles: Contract, roles: Roles, edition: int) -> None:
    holder = custodial_address()
    receipt = send(roles.issuer, collectibles.functions.mint(mint(holder, 1, 2)))
    GAS_REPORT["CollectibleRewards.mint"] = receipt["gasUsed"]
    assert events(collectibles, receipt, "CollectiblesMinted") == [
        {"operationId": 1, "edition": EDITION, "holder": holder, "amount": 2, "custodial": False}
    ]
    assert collectibles.functions.balanceOf(holder, EDITION).call() == 2
    reverts(roles.issuer, collectibles.functions.mint(mint(holder, 2, 2)), "CollectibleRewardsCapExceeded")
    # a batch that would pass the cap mints nothing at all
    batch = [mint(holder, 3, 1), mint(custodial_address(), 4, 1)]
    reverts(roles.issuer, collectibles.functions.mintBatch(batch), "CollectibleRewardsCapExceeded")
    assert not collectibles.functions.isOperationApplied(3).call()
    send(roles.issuer, collectibles.functions.mint(mint(holder, 5, 1)))
    assert tuple(collectibles.functions.edition(EDITION).call()) == (3, 3)
    reverts(roles.issuer, collectibles.functions.mint(mint(holder, 6, 1)), "CollectibleRewardsCapExceeded")
    # the cap cannot be raised by creating the edition again, nor can an edition of 0 copies exist
    reverts(roles.operator, collectibles.functions.createEdition(EDITION, 10), "CollectibleRewardsInvalidEdition")
    reverts(roles.operator, collectibles.functions.createEdition(OTHER_EDITION, 0), "CollectibleRewardsInvalidEdition")
    # an edition that was never created mints nothing
    reverts(roles.issuer, collectibles.functions.mint(mint(holder, 7, 1, 99)), "CollectibleRewardsUnknownEdition")


def test_a_batch_mints_each_redemption_once(collectibles: Contract, roles: Roles, clean_chain: Web3) -> None:
    send(roles.operator, collectibles.functions.createEdition(EDITION, 100))
    holders = [custodial_address() for _ in range(10)]
    receipt = send(roles.issuer, collectibles.functions.mintBatch([mint(h, 10 + i) for i, h in enumerate(holders)]))
    GAS_REPORT["CollectibleRewards.mintBatch(10)"] = receipt["gasUsed"] / 10
    assert [collectibles.functions.balanceOf(h, EDITION).call() for h in holders] == [1] * 10
    # the same operation again (a retried transaction): refused, the sender confirms it instead
    reverts(
        roles.issuer, collectibles.functions.mint(mint(holders[0], 10)), "CollectibleRewardsAlreadyAppliedOperation"
    )
    reverts(roles.issuer, collectibles.functions.mint(mint(holders[0], 0)), "CollectibleRewardsInvalidOperationId")


def test_only_the_issuer_mints_and_only_the_operator_creates_editions_and_polls(
    collectibles: Contract, roles: Roles, edition: int
) -> None:
    for someone in (roles.stranger, roles.operator, roles.admin, roles.brand):
        reverts(someone, collectibles.functions.mint(mint(someone.address, 1)), "AccessControlUnauthorizedAccount")
        reverts(
            someone,
            collectibles.functions.mintBatch([mint(someone.address, 2)]),
            "AccessControlUnauthorizedAccount",
        )
    for someone in (roles.stranger, roles.issuer, roles.admin):
        reverts(someone, collectibles.functions.createEdition(OTHER_EDITION, 5), "AccessControlUnauthorizedAccount")
        reverts(someone, collectibles.functions.openPoll(1, EDITION, 2, 10**6), "AccessControlUnauthorizedAccount")
    for someone in (roles.stranger, roles.operator):
        reverts(someone, collectibles.functions.relayVote(3, 1, someone.address, 0), "AccessControlUnauthorizedAccount")
    assert tuple(collectibles.functions.edition(EDITION).call()) == (3, 0)


def test_copies_move_by_their_holder_only(collectibles: Contract, roles: Roles, edition: int) -> None:
    send(roles.issuer, collectibles.functions.mint(mint(roles.other.address, 1)))
    move = collectibles.functions.safeTransferFrom(roles.other.address, roles.brand.address, EDITION, 1, b"")
    for someone in (roles.issuer, roles.admin, roles.stranger):  # nobody but the holder, not even the platform
        reverts(someone, move, "ERC1155MissingApprovalForAll")
    receipt = send(roles.other, move)
    assert events(collectibles, receipt, "TransferSingle")[0]["to"] == roles.brand.address
    assert collectibles.functions.balanceOf(roles.brand.address, EDITION).call() == 1
    assert collectibles.functions.balanceOf(roles.other.address, EDITION).call() == 0


def test_a_poll_takes_one_vote_per_holder(
    collectibles: Contract, roles: Roles, edition: int, clean_chain: Web3
) -> None:
    custodial = custodial_address()
    send(roles.issuer, collectibles.functions.mint(mint(roles.other.address, 1)))
    send(roles.issuer, collectibles.functions.mint(mint(custodial, 2)))
    close = clean_chain.eth.block_number + 20
    receipt = send(roles.operator, collectibles.functions.openPoll(1, EDITION, 3, close))
    opened = events(collectibles, receipt, "PollOpened")[0]
    assert (opened["snapshotBlock"], opened["closeBlock"]) == (receipt["blockNumber"], close)
    reverts(roles.operator, collectibles.functions.openPoll(1, EDITION, 3, close), "CollectibleRewardsInvalidPoll")
    reverts(roles.operator, collectibles.functions.openPoll(2, EDITION, 1, close), "CollectibleRewardsInvalidPoll")
    reverts(
        roles.operator, collectibles.functions.openPoll(3, OTHER_EDITION, 2, close), "CollectibleRewardsUnknownEdition"
    )

    receipt = send(roles.other, collectibles.functions.vote(1, 2))
    assert events(collectibles, receipt, "PollVoted") == [
        {"pollId": 1, "voter": roles.other.address, "operationId": 0, "option": 2}
    ]
    reverts(roles.other, collectibles.functions.vote(1, 0), "CollectibleRewardsAlreadyVoted")
    reverts(roles.stranger, collectibles.functions.vote(1, 0), "CollectibleRewardsNotHolder")
    reverts(roles.other, collectibles.functions.vote(9, 0), "CollectibleRewardsPollNotOpen")
    # a custodial holder votes through the issuer, once; a relay cannot vote for a non-holder
    reverts(roles.issuer, collectibles.functions.relayVote(5, 1, custodial, 3), "CollectibleRewardsInvalidOption")
    send(roles.issuer, collectibles.functions.relayVote(6, 1, custodial, 1))
    reverts(roles.issuer, collectibles.functions.relayVote(7, 1, custodial, 0), "CollectibleRewardsAlreadyVoted")
    reverts(
        roles.issuer,
        collectibles.functions.relayVote(8, 1, custodial_address(), 0),
        "CollectibleRewardsNotHolder",
    )
    reverts(
        roles.issuer, collectibles.functions.relayVote(6, 1, custodial, 0), "CollectibleRewardsAlreadyAppliedOperation"
    )
    assert collectibles.functions.hasVoted(1, custodial).call()
    # after the close block, no more votes
    clean_chain.provider.make_request("anvil_mine", [hex(25)])  # type: ignore[arg-type]
    send(
        roles.other, collectibles.functions.safeTransferFrom(roles.other.address, roles.brand.address, EDITION, 1, b"")
    )
    reverts(roles.brand, collectibles.functions.vote(1, 0), "CollectibleRewardsPollNotOpen")


def test_pause_stops_mints_transfers_and_votes(collectibles: Contract, roles: Roles, edition: int) -> None:
    send(roles.issuer, collectibles.functions.mint(mint(roles.other.address, 1)))
    send(roles.operator, collectibles.functions.openPoll(1, EDITION, 2, 10**6))
    send(roles.admin, collectibles.functions.pause())
    reverts(roles.issuer, collectibles.functions.mint(mint(roles.other.address, 2)), "EnforcedPause")
    reverts(
        roles.other,
        collectibles.functions.safeTransferFrom(roles.other.address, roles.brand.address, EDITION, 1, b""),
        "EnforcedPause",
    )
    reverts(roles.other, collectibles.functions.vote(1, 0), "EnforcedPause")
    reverts(roles.stranger, collectibles.functions.unpause(), "AccessControlUnauthorizedAccount")
    send(roles.admin, collectibles.functions.unpause())
    send(roles.other, collectibles.functions.vote(1, 0))


def test_the_issuer_relays_copies_held_in_custody_and_nothing_else(
    collectibles: Contract, roles: Roles, edition: int
) -> None:
    giver, receiver = custodial_address(), custodial_address()
    wallet = roles.other.address
    send(roles.issuer, collectibles.functions.mint(mint(giver, 1, 2, custodial=True)))
    send(roles.issuer, collectibles.functions.mint(mint(wallet, 2)))  # to a member's own wallet
    custody = collectibles.functions.custodialBalanceOf
    assert (custody(giver, EDITION).call(), custody(wallet, EDITION).call()) == (2, 0)

    relay = collectibles.functions.relayTransfer
    receipt = send(roles.issuer, relay(10, giver, receiver, EDITION, 1, True))
    GAS_REPORT["CollectibleRewards.relayTransfer"] = receipt["gasUsed"]
    assert events(collectibles, receipt, "CollectiblesRelayed") == [
        {"operationId": 10, "edition": EDITION, "from": giver, "to": receiver, "amount": 1, "toCustodial": True}
    ]
    moved = events(collectibles, receipt, "TransferSingle")[0]
    assert (moved["from"], moved["to"], moved["value"]) == (giver, receiver, 1)
    assert collectibles.functions.isOperationApplied(10).call()
    assert (custody(giver, EDITION).call(), custody(receiver, EDITION).call()) == (1, 1)
    # the same operation again (a retried transaction) moves nothing more
    reverts(roles.issuer, relay(10, giver, receiver, EDITION, 1, True), "CollectibleRewardsAlreadyAppliedOperation")
    # never more than the copies in custody, never none, never from a member's own wallet
    reverts(roles.issuer, relay(11, giver, receiver, EDITION, 2, True), "CollectibleRewardsInsufficientCustody")
    reverts(roles.issuer, relay(12, giver, receiver, EDITION, 0, True), "CollectibleRewardsInsufficientCustody")
    reverts(roles.issuer, relay(13, wallet, receiver, EDITION, 1, True), "CollectibleRewardsInsufficientCustody")
    for someone in (roles.stranger, roles.operator, roles.admin, roles.other):
        reverts(someone, relay(14, giver, receiver, EDITION, 1, True), "AccessControlUnauthorizedAccount")
    send(roles.admin, collectibles.functions.pause())
    reverts(roles.issuer, relay(15, giver, receiver, EDITION, 1, True), "EnforcedPause")
    send(roles.admin, collectibles.functions.unpause())
    assert not any(collectibles.functions.isOperationApplied(i).call() for i in range(11, 16))

    # to a member's own wallet: out of custody for good (the issuer cannot take it back)
    send(roles.issuer, relay(16, giver, wallet, EDITION, 1, False))
    assert [collectibles.functions.balanceOf(a, EDITION).call() for a in (giver, receiver, wallet)] == [0, 1, 2]
    assert (custody(giver, EDITION).call(), custody(wallet, EDITION).call()) == (0, 0)
    reverts(roles.issuer, relay(17, wallet, giver, EDITION, 1, True), "CollectibleRewardsInsufficientCustody")


def test_a_holders_own_transfer_moves_its_own_copies_first_and_releases_custody(
    collectibles: Contract, roles: Roles, edition: int
) -> None:
    """Should a mint to a wallet be marked custodial by mistake, the wallet's key wins: its own
    transfers leave custodial copies last and take them out of custody when they move them."""
    wallet, elsewhere = roles.other, roles.brand.address
    send(roles.issuer, collectibles.functions.mint(mint(wallet.address, 1)))
    send(roles.issuer, collectibles.functions.mint(mint(wallet.address, 2, custodial=True)))
    custody = collectibles.functions.custodialBalanceOf(wallet.address, EDITION)
    move = collectibles.functions.safeTransferFrom(wallet.address, elsewhere, EDITION, 1, b"")
    receipt = send(wallet, move)
    assert events(collectibles, receipt, "CustodyReleased") == []
    assert custody.call() == 1
    receipt = send(wallet, move)
    assert events(collectibles, receipt, "CustodyReleased") == [
        {"holder": wallet.address, "edition": EDITION, "amount": 1}
    ]
    assert custody.call() == 0
    relay = collectibles.functions.relayTransfer(3, wallet.address, elsewhere, EDITION, 1, False)
    reverts(roles.issuer, relay, "CollectibleRewardsInsufficientCustody")
