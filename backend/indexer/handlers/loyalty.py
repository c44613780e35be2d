"""Mirror of LoyaltyPoints: balances, debts, supply, the per-account ledger, custody, rule sets and
the program's policy and pause flag.

Every event has its entry in ``ON_EVENT``: what it does to the effects of a range. Additive
effects (balances, debts, supply, ledger) are written set-based, and negated on rollback.
Latest-value state is written incrementally: a range's wallet claims flag their wallets only,
its policy, pause and rule-set events set only those (nothing is rescanned, however many
customers there are). A rollback rebuilds the accounts the removed events touched from the
events that remain about them (custody included), and the program state from the remaining
program events (``PROGRAM_EVENTS``: rule sets, policy, pause; a handful, not one per customer).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session

from backend.db.direct import bulk_insert
from backend.db.models import MirrorAccount, MirrorLedgerEntry, MirrorRuleSet, MirrorTokenState
from backend.db.schema import table_of
from backend.db.upsert import upsert_add, upsert_replace
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import EventName, OnEvent, dispatch, event_names, events_about, stored_events

CONTRACT = "LoyaltyPoints"
ZERO = "0x0000000000000000000000000000000000000000"


@dataclass
class LoyaltyEffects:
    """What a run of events does to the mirror; additive parts can be negated for a rollback."""

    balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    debts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_block: dict[str, int] = field(default_factory=dict)
    supply: int = 0
    ledger: list[dict[str, Any]] = field(default_factory=list)
    custodied: set[str] = field(default_factory=set)  # wallets claimed (self-custodied from then on)
    policy: tuple[bool, int] | None = None  # the last (enabled, daily cap) set
    paused: bool | None = None  # the last pause or unpause
    rule_sets: dict[int, dict[str, Any]] = field(default_factory=dict)  # by version


def _entry(event: DecodedEvent, block_time: int, **values: Any) -> dict[str, Any]:
    values.setdefault("debt_change", 0)
    values.setdefault("ref", None)
    values.setdefault("counterparty", None)
    values.setdefault("rule_version", None)
    values.setdefault("operation_id", None)
    return {
        **values,
        "block_number": event.block_number,
        "block_time": block_time,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
    }


# -- one function per event ------------------------------------------------------------------------


def _transfer(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    value = int(a["value"])
    if a["from"] == ZERO:
        fx.supply += value
    else:
        fx.balances[a["from"]] -= value
        fx.last_block[a["from"]] = event.block_number
    if a["to"] == ZERO:
        fx.supply -= value
    else:
        fx.balances[a["to"]] += value
        fx.last_block[a["to"]] = event.block_number


def _awarded(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    repaid = int(a["debtRepaid"])
    fx.debts[a["account"]] -= repaid
    fx.last_block[a["account"]] = event.block_number
    fx.ledger.append(
        _entry(
            event,
            t,
            account=a["account"],
            kind="award",
            amount=int(a["amount"]),
            debt_change=-repaid,
            operation_id=int(a["operationId"]),
            ref=a["orderRef"],
            rule_version=int(a["ruleVersion"]),
        )
    )


def _reversed(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    incurred = int(a["debtIncurred"])
    fx.debts[a["account"]] += incurred
    fx.last_block[a["account"]] = event.block_number
    fx.ledger.append(
        _entry(
            event,
            t,
            account=a["account"],
            kind="reversal",
            amount=-int(a["burned"]),
            debt_change=incurred,
            operation_id=int(a["operationId"]),
            ref=a["refundRef"],
        )
    )


def _redeemed(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.ledger.append(
        _entry(
            event,
            t,
            account=a["account"],
            kind="redemption",
            amount=-int(a["amount"]),
            operation_id=int(a["operationId"]),
            ref=a["rewardRef"],
        )
    )


def _expired(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.ledger.append(
        _entry(
            event, t, account=a["account"], kind="expiry", amount=-int(a["amount"]), operation_id=int(a["operationId"])
        )
    )


def _transferred(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    amount = int(a["amount"])
    common = {"operation_id": int(a["operationId"]), "ref": a["transferRef"]}
    fx.ledger.append(
        _entry(event, t, account=a["from"], kind="transfer_out", amount=-amount, counterparty=a["to"], **common)
    )
    fx.ledger.append(
        _entry(event, t, account=a["to"], kind="transfer_in", amount=amount, counterparty=a["from"], **common)
    )


def _wallet_claimed(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    debt = int(a["debt"])
    fx.debts[a["custodial"]] -= debt
    fx.debts[a["wallet"]] += debt
    fx.custodied.add(a["wallet"])
    amount = int(a["amount"])
    common = {"operation_id": int(a["operationId"])}
    fx.ledger.append(
        _entry(
            event,
            t,
            account=a["custodial"],
            kind="claim_out",
            amount=-amount,
            debt_change=-debt,
            counterparty=a["wallet"],
            **common,
        )
    )
    fx.ledger.append(
        _entry(
            event,
            t,
            account=a["wallet"],
            kind="claim_in",
            amount=amount,
            debt_change=debt,
            counterparty=a["custodial"],
            **common,
        )
    )


def _policy_updated(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    fx.policy = (bool(event.args["enabled"]), int(event.args["dailyCap"]))


def _paused(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    fx.paused = True


def _unpaused(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    fx.paused = False


def _rule_set_published(fx: LoyaltyEffects, event: DecodedEvent, t: int) -> None:
    version = int(event.args["version"])
    fx.rule_sets[version] = {
        "version": version,
        "content_hash": event.args["contentHash"],
        "block_number": event.block_number,
        "tx_hash": event.tx_hash,
    }


PROGRAM_EVENTS: dict[EventName, OnEvent[LoyaltyEffects]] = {
    (CONTRACT, "TransferPolicyUpdated"): _policy_updated,
    (CONTRACT, "Paused"): _paused,
    (CONTRACT, "Unpaused"): _unpaused,
    (CONTRACT, "RuleSetPublished"): _rule_set_published,
}
ON_EVENT: dict[EventName, OnEvent[LoyaltyEffects]] = {
    (CONTRACT, "Transfer"): _transfer,
    (CONTRACT, "PointsAwarded"): _awarded,
    (CONTRACT, "PointsReversed"): _reversed,
    (CONTRACT, "PointsRedeemed"): _redeemed,
    (CONTRACT, "PointsExpired"): _expired,
    (CONTRACT, "PointsTransferred"): _transferred,
    (CONTRACT, "WalletClaimed"): _wallet_claimed,
    **PROGRAM_EVENTS,
}


def effects_of(events: list[DecodedEvent], block_times: dict[int, int]) -> LoyaltyEffects:
    return dispatch(ON_EVENT, LoyaltyEffects(), events, block_times)


# -- writing -----------------------------------------------------------------------------------------


def _write_additive(session: Session, fx: LoyaltyEffects, sign: int) -> None:
    accounts = set(fx.balances) | set(fx.debts)
    rows = [
        {
            "address": address,
            "balance": sign * fx.balances.get(address, 0),
            "debt": sign * fx.debts.get(address, 0),
            "self_custodied": address in fx.custodied,  # new rows only; see _flag_custody
            "last_block": fx.last_block.get(address, 0),
        }
        for address in accounts
    ]
    upsert_add(
        session,
        table_of(MirrorAccount),
        ["address"],
        rows,
        add=["balance", "debt"],
        replace=["last_block"] if sign > 0 else [],
    )
    if fx.supply:
        _ensure_state(session)
        table = table_of(MirrorTokenState)
        session.execute(
            update(table).where(table.c.id == 1).values(total_supply=table.c.total_supply + sign * fx.supply)
        )


def _flag_custody(session: Session, wallets: set[str]) -> None:
    """The wallets claimed in this range are self-custodied (their rows may predate the claim)."""
    upsert_add(
        session,
        table_of(MirrorAccount),
        ["address"],
        [{"address": a, "balance": 0, "debt": 0, "self_custodied": True, "last_block": 0} for a in sorted(wallets)],
        add=[],
        replace=["self_custodied"],
    )


def _ensure_state(session: Session) -> None:
    if session.get(MirrorTokenState, 1) is None:
        session.add(MirrorTokenState(id=1))
        session.flush()


def _write_program_state(session: Session, fx: LoyaltyEffects, reset: bool = False) -> None:
    """Policy, pause flag and rule sets: what ``fx`` set on top of the mirror's (``reset``: on
    top of a freshly deployed contract's)."""
    if not reset and fx.policy is None and fx.paused is None and not fx.rule_sets:
        return
    _ensure_state(session)
    state = session.get(MirrorTokenState, 1)
    assert state is not None
    if reset:
        state.paused = False
        state.member_transfers_enabled = False
        state.daily_transfer_cap = 0
        state.latest_rule_version = 0
        session.execute(delete(table_of(MirrorRuleSet)))
    if fx.policy is not None:
        state.member_transfers_enabled, state.daily_transfer_cap = fx.policy
    if fx.paused is not None:
        state.paused = fx.paused
    if fx.rule_sets:
        state.latest_rule_version = max(state.latest_rule_version, *fx.rule_sets)
        upsert_replace(session, table_of(MirrorRuleSet), ["version"], list(fx.rule_sets.values()))
    session.add(state)


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    """Write the effects of ``events`` (this contract's, in chain order)."""
    fx = effects_of(events, block_times)
    _write_additive(session, fx, +1)
    bulk_insert(session, table_of(MirrorLedgerEntry), fx.ledger)
    _flag_custody(session, fx.custodied)
    _write_program_state(session, fx)


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    """Undo ``removed`` (the stored events above ``above_block``, already deleted from the log)."""
    undone = effects_of(removed, {})
    _write_additive(session, LoyaltyEffects(supply=undone.supply), -1)
    ledger = table_of(MirrorLedgerEntry)
    session.execute(delete(ledger).where(ledger.c.block_number > above_block))
    _recompute_accounts(session, set(undone.balances) | set(undone.debts))
    if any((e.contract, e.name) in PROGRAM_EVENTS for e in removed):
        remaining = stored_events(session, event_names(PROGRAM_EVENTS))
        _write_program_state(session, dispatch(PROGRAM_EVENTS, LoyaltyEffects(), remaining, {}), reset=True)


def _recompute_accounts(session: Session, addresses: set[str]) -> None:
    """Rebuild the rows of ``addresses`` from the events that remain (exactly what a replay from
    the chain gives: a negation would leave the rows and ``last_block`` that removed events set)."""
    if not addresses:
        return
    accounts = table_of(MirrorAccount)
    ordered = sorted(addresses)
    for start in range(0, len(ordered), 500):
        session.execute(delete(accounts).where(accounts.c.address.in_(ordered[start : start + 500])))
    remaining = effects_of(events_about(session, CONTRACT, addresses), {})
    rebuilt = LoyaltyEffects(custodied=remaining.custodied & addresses)
    for address in addresses & (set(remaining.balances) | set(remaining.debts)):
        rebuilt.balances[address] = remaining.balances.get(address, 0)
        rebuilt.debts[address] = remaining.debts.get(address, 0)
        if address in remaining.last_block:
            rebuilt.last_block[address] = remaining.last_block[address]
    _write_additive(session, rebuilt, +1)
