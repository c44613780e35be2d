"""`credance reconcile` finds every way the mirror can differ from the chain, and `--repair`
re-derives the mirror from the chain."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from backend.db.models import (
    ChainCursor,
    ChainEvent,
    MirrorAccount,
    MirrorItemBatch,
    MirrorLedgerEntry,
    MirrorRole,
    MirrorTokenState,
    Operation,
    OperationStatus,
    ReconcileRun,
)
from backend.db.schema import table_of
from backend.indexer.reconcile_runs import latest_run
from backend.settings import PROJECT_ROOT
from tests.e2e.loyalty_helpers import add_reward, claim_typed_data, new_wallet, permit, signed_claim
from tests.integration.test_indexer import balance, buy
from tests.support import Platform

pytestmark = pytest.mark.chain

STRANGER = "0x00000000000000000000000000000000DeaDBeef"


def customer_address(platform: Platform, customer: str = "ivy") -> str:
    response = platform.client.get(f"/v1/customers/{customer}/balance", headers=platform.headers())
    return str(response.json()["address"])


def tamper_balance(platform: Platform, session: Session) -> None:
    accounts = table_of(MirrorAccount)
    session.execute(update(accounts).where(accounts.c.address == customer_address(platform)).values(balance=999))


def tamper_missing_account(platform: Platform, session: Session) -> None:
    accounts = table_of(MirrorAccount)
    session.execute(delete(accounts).where(accounts.c.address == customer_address(platform)))


def tamper_supply(platform: Platform, session: Session) -> None:
    state = table_of(MirrorTokenState)
    session.execute(update(state).values(total_supply=state.c.total_supply + 1))


def tamper_ledger(platform: Platform, session: Session) -> None:
    ledger = table_of(MirrorLedgerEntry)
    session.execute(update(ledger).where(ledger.c.kind == "award").values(amount=1))


def tamper_event(platform: Platform, session: Session) -> None:
    session.execute(delete(table_of(ChainEvent)).where(table_of(ChainEvent).c.name == "PointsAwarded"))


def tamper_item_batch(platform: Platform, session: Session) -> None:
    batches = table_of(MirrorItemBatch)
    session.execute(update(batches).values(count=batches.c.count + 1))


def tamper_role(platform: Platform, session: Session) -> None:
    session.execute(
        insert(table_of(MirrorRole)).values(
            contract="LoyaltyPoints", role="0x" + "00" * 32, account=STRANGER, block_number=1
        )
    )


def tamper_operation(platform: Platform, session: Session) -> None:
    ops = table_of(Operation)
    session.execute(update(ops).where(ops.c.kind == "award").values(status=OperationStatus.SENT))


TAMPERINGS: dict[str, tuple[Callable[[Platform, Session], None], set[str]]] = {
    "balance": (tamper_balance, {"balanceOf", "mirror_accounts"}),
    "missing account": (tamper_missing_account, {"balanceOf", "mirror_accounts"}),
    "total supply": (tamper_supply, {"totalSupply", "mirror_token_state"}),
    "ledger": (tamper_ledger, {"mirror_ledger"}),
    "event": (tamper_event, {"event"}),
    "item batch": (tamper_item_batch, {"itemBatches", "mirror_item_batches"}),
    "role": (tamper_role, {"hasRole", "mirror_roles"}),
    "operation": (tamper_operation, {"isOperationApplied"}),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_every_difference_is_found_and_repaired(platform: Platform, tampering: str) -> None:
    buy(platform, "RC-1", amount="12")
    platform.assert_mirror_matches_chain()
    tamper, expected = TAMPERINGS[tampering]
    with Session(platform.engine) as session:
        tamper(platform, session)
        session.commit()

    report = platform.reconcile()
    assert not report.ok
    assert {d.check for d in report.differences} == expected, [d.describe() for d in report.differences]
    assert platform.reconcile().differences == report.differences  # checking changed nothing

    assert platform.reconcile(repair=True).repaired
    assert platform.reconcile().ok
    assert balance(platform) == 12


def test_a_mirror_behind_a_reorganisation_is_reported_until_the_indexer_catches_up(platform: Platform) -> None:
    buy(platform, "RC-2", amount="5")
    platform.settle()
    with Session(platform.engine) as session:
        cursor = session.get(ChainCursor, "indexer")
        assert cursor is not None
        cursor.block_hash = "0x" + "ab" * 32
        session.add(cursor)
        session.commit()
    assert {d.check for d in platform.reconcile().differences} == {"head"}
    assert platform.reconcile(repair=True).repaired
    assert platform.reconcile().ok


@pytest.mark.sqlite_only
def test_the_command_lists_differences_and_exits_non_zero(platform: Platform) -> None:
    buy(platform, "RC-3", amount="8")
    platform.settle()
    env = {
        **os.environ,
        "CREDANCE_DATABASE_URL": platform.settings.resolved_database_url,
        "CREDANCE_RPC_URL": platform.settings.resolved_rpc_url,
        "CREDANCE_DEPLOYMENTS_DIR": str(platform.settings.deployments_dir),
        "CREDANCE_HOME": str(platform.settings.home),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli.main", "reconcile", *args],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    clean = run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no differences" in clean.stdout

    with Session(platform.engine) as session:
        tamper_balance(platform, session)
        session.commit()
    broken = run()
    assert broken.returncode == 1
    assert f"balanceOf {customer_address(platform)}: mirror 999, chain 8" in broken.stdout
    assert "difference(s)" in broken.stdout

    repaired = run("--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "no differences" in repaired.stdout
    with Session(platform.engine) as session:
        row = session.exec(select(MirrorAccount).where(MirrorAccount.address == customer_address(platform))).one()
        # Each run is kept for the console's dashboard: clean, broken, then the repair proven.
        runs = session.exec(select(ReconcileRun).order_by(col(ReconcileRun.id))).all()
        latest = latest_run(session)
    assert row.balance == 8
    assert [(run.ok, run.differences > 0) for run in runs] == [(True, False), (False, True), (True, False)]
    assert latest is not None
    assert latest["ok"]
    assert "no differences" in latest["summary"]


def _redeem_with_a_permit(platform: Platform) -> Operation:
    """Ivy claims her own wallet and redeems a reward with a permit it signed; return that burn."""
    buy(platform, "RC-P", customer="ivy", amount="250")
    platform.settle()
    wallet, headers = new_wallet(), platform.as_customer("ivy")
    typed = claim_typed_data(platform, "ivy", wallet.address, headers)
    claimed = platform.client.post("/v1/customers/ivy/wallet", json=signed_claim(typed, wallet), headers=headers)
    assert claimed.status_code == 202, claimed.text
    platform.settle()
    add_reward(platform, "mug", 100)
    redeemed = platform.client.post(
        "/v1/customers/ivy/redemptions",
        headers=headers,
        json={"redemption_id": "P-1", "reward_id": "mug", "permit": permit(platform, wallet, 100)},
    )
    assert redeemed.status_code == 200, redeemed.text
    platform.assert_mirror_matches_chain()
    with Session(platform.engine) as session:
        burn = session.exec(select(Operation).where(Operation.kind == "redeem_permit")).one()
    assert burn.status == OperationStatus.CONFIRMED
    return burn


def test_permit_redemptions_are_checked_on_chain_by_their_operation_id(platform: Platform) -> None:
    """A permit redemption carries its outbox id on chain like every loyalty burn: reconcile asks the
    contract (``isOperationApplied``) instead of trusting the events of its transaction."""
    burn = _redeem_with_a_permit(platform)
    ops = table_of(Operation)
    with Session(platform.engine) as session:
        session.execute(update(ops).where(ops.c.id == burn.id).values(status=OperationStatus.SENT))
        session.commit()
    report = platform.reconcile()
    assert {d.check for d in report.differences} == {"isOperationApplied"}, [d.describe() for d in report.differences]
    assert platform.reconcile(repair=True).repaired
    assert platform.reconcile().ok

    # A permit redemption the chain never applied, marked confirmed with the hash of a transaction
    # that did emit events (the burn's own): only the contract can tell.
    with Session(platform.engine) as session:
        session.execute(
            insert(ops).values(
                kind="redeem_permit",
                signer="issuer",
                account=burn.account,
                amount=1,
                ref="0x" + "ab" * 32,
                payload=burn.payload,
                status=OperationStatus.CONFIRMED,
                tx_hash=burn.tx_hash,
                attempts=1,
                created_at=burn.created_at,
                confirmed_block=burn.confirmed_block,
            )
        )
        session.commit()
    report = platform.reconcile()
    assert [(d.check, d.chain) for d in report.differences] == [("isOperationApplied", "not applied")]
    assert platform.reconcile(repair=True).repaired
    with Session(platform.engine) as session:
        forged = session.exec(select(Operation).where(Operation.ref == "0x" + "ab" * 32)).one()
    assert forged.status == OperationStatus.SENT  # back to the sender, which the chain will refuse or apply
