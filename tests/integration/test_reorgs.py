"""Chain reorganisations on a real Anvil (``anvil_reorg``, ``anvil_rollback``, ``evm_revert``):
the indexer notices by block hash, rolls back to the common ancestor in one transaction, and
the mirror ends exactly equal to the chain (``reconcile`` finds no difference)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from backend.chain.local_signer import LocalSigner
from backend.db.models import (
    ChainCursor,
    ChainTransaction,
    Customer,
    MirrorAccount,
    MirrorLedgerEntry,
    MirrorRole,
    MirrorTokenState,
    Operation,
    OperationStatus,
)
from backend.indexer.runner import REORG_WINDOW, Indexer
from tests.contracts.helpers import send
from tests.e2e.loyalty_helpers import claim_typed_data, enable_transfers, new_wallet, signed_claim
from tests.integration.test_indexer import balance, buy
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain
STRANGER = "0x00000000000000000000000000000000DeaDBeef"


def award(platform: Platform) -> Operation:
    with Session(platform.engine) as session:
        return session.exec(select(Operation).where(Operation.kind == "award").order_by(col(Operation.id).desc())).one()


def head(platform: Platform) -> int:
    return int(platform.ctx.w3.eth.block_number)


def cursor(platform: Platform) -> ChainCursor:
    with Session(platform.engine) as session:
        found = session.get(ChainCursor, "indexer")
        assert found is not None
        return found


def test_anvil_reorg_drops_an_award_then_the_sender_sends_it_again(platform: Platform) -> None:
    buy(platform, "RG-1", amount="40")
    platform.settle()
    mined_at = award(platform).confirmed_block
    assert mined_at is not None
    assert balance(platform) == 40

    rpc(platform.ctx.w3, "anvil_reorg", head(platform) - mined_at + 1, [])  # a branch without our award
    result = platform.indexer.step()
    assert result is not None
    assert result.reorged_to == mined_at - 1
    assert award(platform).status == OperationStatus.SENT
    assert balance(platform) == 0
    platform.indexer.sync()
    assert platform.reconcile().ok  # the mirror is the new branch, exactly
    assert cursor(platform).reorgs_total == 1

    platform.sender.recover()
    platform.assert_mirror_matches_chain()
    assert balance(platform) == 40
    assert award(platform).status == OperationStatus.CONFIRMED


def test_anvil_reorg_that_moves_an_award_to_another_block(platform: Platform) -> None:
    buy(platform, "RG-2", amount="15")
    platform.settle()
    before = award(platform)
    assert before.confirmed_block is not None
    with Session(platform.engine) as session:
        raw = session.exec(select(ChainTransaction.raw).where(ChainTransaction.hash == before.tx_hash)).one()

    rpc(platform.ctx.w3, "anvil_mine", "0x1")
    depth = head(platform) - before.confirmed_block + 1
    rpc(platform.ctx.w3, "anvil_reorg", depth, [[raw, 1]])  # same transaction, one block later
    platform.indexer.sync()

    after = award(platform)
    assert after.status == OperationStatus.CONFIRMED
    assert after.confirmed_block == before.confirmed_block + 1
    with Session(platform.engine) as session:
        entries = session.exec(select(MirrorLedgerEntry).where(MirrorLedgerEntry.kind == "award")).all()
    assert [(e.amount, e.block_number) for e in entries] == [(15, before.confirmed_block + 1)]
    assert balance(platform) == 15
    platform.assert_mirror_matches_chain()


def test_anvil_rollback_shortens_the_chain_below_the_mirror(platform: Platform) -> None:
    buy(platform, "RG-3", amount="7")
    platform.settle()
    mined_at = award(platform).confirmed_block
    assert mined_at is not None
    rpc(platform.ctx.w3, "anvil_rollback", head(platform) - mined_at + 1)
    assert head(platform) == mined_at - 1

    result = platform.indexer.step()
    assert result is not None
    assert result.reorged_to == mined_at - 1
    assert platform.reconcile().ok
    platform.sender.recover()
    platform.assert_mirror_matches_chain()
    assert balance(platform) == 7


def test_evm_revert_across_several_indexed_ranges(platform: Platform) -> None:
    """One block per range: the common ancestor is found among many stored blocks."""
    indexer = Indexer(platform.engine, platform.ctx, max_range=1)
    platform.indexer = indexer
    buy(platform, "RG-4", customer="kim", amount="3")
    platform.settle()
    fork = rpc(platform.ctx.w3, "evm_snapshot")
    for n in range(3):
        buy(platform, f"RG-5-{n}", customer=f"lee{n}", amount="5")
        platform.settle()
    rpc(platform.ctx.w3, "evm_revert", fork)
    rpc(platform.ctx.w3, "anvil_mine", "0x5")  # the other branch is longer
    platform.indexer.sync()
    assert platform.reconcile().ok
    assert [balance(platform, f"lee{n}") for n in range(3)] == [0, 0, 0]
    assert balance(platform, "kim") == 3

    platform.sender.recover()
    platform.assert_mirror_matches_chain()
    assert [balance(platform, f"lee{n}") for n in range(3)] == [5, 5, 5]


def test_a_reorg_deeper_than_every_stored_block_reindexes_from_the_deployment(platform: Platform) -> None:
    """Stored blocks are pruned below the reorg window: a deeper reorg rolls everything back and
    re-indexes from the deployment block (correct, only slower)."""
    buy(platform, "RG-6", amount="9")
    platform.settle()
    w3 = platform.ctx.w3
    fork = rpc(w3, "evm_snapshot")
    rpc(w3, "anvil_mine", hex(REORG_WINDOW + 50))
    platform.indexer.sync()  # one range over the empty blocks: older stored blocks are pruned
    rpc(w3, "evm_revert", fork)
    rpc(w3, "evm_increaseTime", 3600)  # empty blocks with other timestamps: other hashes
    rpc(w3, "anvil_mine", hex(REORG_WINDOW + 100))

    result = platform.indexer.step()
    assert result is not None
    assert result.reorged_to == platform.ctx.manifest.start_block - 1
    platform.indexer.sync()
    assert platform.reconcile().ok
    platform.sender.recover()  # operations confirmed by receipt only (funding) are settled again
    platform.assert_mirror_matches_chain()
    assert balance(platform) == 9


def test_a_reorg_that_takes_back_a_wallet_claim_and_program_changes(platform: Platform, dev_keys: list[str]) -> None:
    """Custody, the transfer policy, the pause flag and roles are mirrored incrementally; a reorg that
    drops them leaves exactly what the remaining chain says, and re-sending restores them."""
    buy(platform, "RG-7", amount="40")
    buy(platform, "RG-8", customer="kim", amount="6")
    platform.settle()
    claim_wallet(platform, "kim")  # before the fork: stays self-custodied whatever the reorg drops
    platform.settle()
    w3, points = platform.ctx.w3, platform.ctx.points
    fork = rpc(w3, "evm_snapshot")
    claim_wallet(platform, "ivy")
    buy(platform, "RG-9", customer="kim", amount="3")  # touches kim's wallet above the fork
    enable_transfers(platform, daily_cap=25)
    deployer = LocalSigner(w3, dev_keys[0], platform.ctx.chain_id)
    send(deployer, points.functions.pause())
    send(deployer, points.functions.unpause())
    pauser_role = points.functions.PAUSER_ROLE().call()
    send(deployer, points.functions.grantRole(pauser_role, STRANGER))
    platform.indexer.sync()
    assert mirrored(platform) == ((True, 40), (True, 25), True)
    assert mirrored(platform, "kim")[0] == (True, 9)

    rpc(w3, "evm_revert", fork)
    rpc(w3, "evm_increaseTime", 60)
    rpc(w3, "anvil_mine", "0x10")  # the other branch is longer
    platform.indexer.sync()
    assert platform.reconcile().ok  # the mirror is the branch without them, row for row
    assert mirrored(platform) == ((False, 0), (False, 0), False)
    assert mirrored(platform, "kim")[0] == (True, 6)

    platform.sender.recover()  # the claim and the policy are sent again; the test's own calls are gone
    platform.assert_mirror_matches_chain()
    assert mirrored(platform) == ((True, 40), (True, 25), False)
    assert mirrored(platform, "kim")[0] == (True, 9)


def claim_wallet(platform: Platform, customer: str) -> None:
    wallet, headers = new_wallet(), platform.as_customer(customer)
    typed = claim_typed_data(platform, customer, wallet.address, headers)
    claimed = platform.client.post(
        f"/v1/customers/{customer}/wallet", json=signed_claim(typed, wallet), headers=headers
    )
    assert claimed.status_code == 202, claimed.text


def mirrored(platform: Platform, customer: str = "ivy") -> tuple[tuple[bool, int], tuple[bool, int], bool]:
    """(custody and balance of the customer's wallet, transfer policy, whether STRANGER holds a role)."""
    with Session(platform.engine) as session:
        wallet = session.exec(select(Customer.wallet).where(Customer.external_id == customer)).one()
        account = session.get(MirrorAccount, wallet)
        state = session.get(MirrorTokenState, 1) or MirrorTokenState(id=1)
        role = session.exec(select(MirrorRole).where(MirrorRole.account == STRANGER)).first()
    return (
        (account.self_custodied, account.balance) if account else (False, 0),
        (state.member_transfers_enabled, state.daily_transfer_cap),
        role is not None,
    )
