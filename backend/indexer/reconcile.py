"""``credance reconcile``: prove that the SQL mirror is exactly the chain, or list how it is not.

At the block the mirror reflects (its cursor), with the indexer's lock held so the mirror
cannot move meanwhile, four checks:

1. **Head** — the chain still has the mirrored block with the same hash (else a reorganisation
   has not been rolled back yet).
2. **Events** — every log of our contracts from the deployment block to that block, re-read
   with ``eth_getLogs``, is in ``chain_events`` (same position, name and arguments), and
   nothing else is.
3. **State** — what the contracts say through their view functions, called at that block:
   balances (``balanceOf``), debts, custody, total supply, pause flags, transfer policy,
   rule-set hashes; organisations, partner roles, company prefixes, product owners, item
   batches, event anchors, recalls and their count; every AccessControl role. Loyalty operations marked
   confirmed are applied on chain (``isOperationApplied``) and vice versa.
4. **Replay** — every ``mirror_*`` table rebuilt from the re-read logs by the same handlers,
   inside the transaction, equals the table as it is (this covers derived tables such as the
   ledger, which no view function exposes).

Without ``repair`` the transaction is rolled back: reconcile changes nothing. With ``repair``
the replayed mirror is kept (it is, by construction, derived from the chain), operations are
re-confirmed or returned to ``sent`` to match the chain, and the cursor takes the chain's hash.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine, Table, delete, update
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, select

from backend.chain.context import ChainContext
from backend.chain.operations import (
    CONFIRMED_BY_RECEIPT,
    OPERATION_ID_KINDS,
    operation_id_contract,
)
from backend.db.engine import session_scope
from backend.db.models import (
    ChainCursor,
    ChainEvent,
    MirrorAccount,
    MirrorCollectibleCustody,
    MirrorCollectibleMove,
    MirrorCompanyPrefix,
    MirrorEdition,
    MirrorEventAnchor,
    MirrorItemBatch,
    MirrorOrganisation,
    MirrorPartnerRole,
    MirrorPassportHolder,
    MirrorProduct,
    MirrorRecall,
    MirrorRole,
    MirrorRuleSet,
    MirrorTokenState,
    MirrorVote,
    Operation,
    OperationStatus,
)
from backend.db.schema import table_of
from backend.indexer.decoder import DecodedEvent, LogDecoder
from backend.indexer.rpc import JsonRpc, RangeTooLarge
from backend.indexer.runner import CURSOR, apply_events, deployment_fingerprint
from backend.indexer.viewcalls import ViewReader

log = structlog.get_logger(__name__)

MIRROR_PREFIX = "mirror_"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = "0x" + "00" * 32
POINTS, REGISTRY, PASSPORTS = "LoyaltyPoints", "ProvenanceRegistry", "ItemPassports"
COLLECTIBLES = "CollectibleRewards"


@dataclass(frozen=True)
class Difference:
    """One way the mirror is not the chain."""

    check: str  # what was compared, e.g. "balanceOf", "event", "mirror_accounts"
    key: str  # which one: an address, a root, an event position…
    mirror: Any
    chain: Any

    def describe(self) -> str:
        return f"{self.check} {self.key}: mirror {_short(self.mirror)}, chain {_short(self.chain)}"


@dataclass
class ReconcileReport:
    chain_id: int
    block: int
    checked: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.checked.items())
        verdict = "no differences" if self.ok else f"{len(self.differences)} difference(s)"
        if self.repaired:
            verdict += " (repaired: the mirror was re-derived from the chain)"
        return f"chain {self.chain_id} at block {self.block}: checked {counts}: {verdict}"

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "block": self.block,
            "checked": self.checked,
            "ok": self.ok,
            "repaired": self.repaired,
            "differences": [
                {"check": d.check, "key": d.key, "mirror": _jsonable(d.mirror), "chain": _jsonable(d.chain)}
                for d in self.differences
            ],
        }


def reconcile(
    engine: Engine, ctx: ChainContext, *, repair: bool = False, rpc: JsonRpc | None = None
) -> ReconcileReport:
    rpc = rpc or JsonRpc(str(ctx.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    contracts = {name: (c.address, c.abi) for name, c in ctx.manifest.contracts.items()}
    decoder = LogDecoder(contracts)
    start = ctx.manifest.start_block
    with session_scope(engine) as session:
        cursor = session.exec(select(ChainCursor).where(col(ChainCursor.name) == CURSOR).with_for_update()).first()
        mirrored = cursor is not None and cursor.block_hash != ""
        block = cursor.block_number if cursor is not None and mirrored else start - 1
        report = ReconcileReport(ctx.chain_id, block)
        diffs = report.differences
        if cursor is not None and cursor.deployment != deployment_fingerprint(ctx):
            diffs.append(Difference("deployment", "manifest", cursor.deployment, deployment_fingerprint(ctx)))

        chain_hash = None
        if mirrored and cursor is not None:
            header = rpc.headers([block]).get(block)
            chain_hash = header.hash if header else None
            if chain_hash != cursor.block_hash:
                diffs.append(Difference("head", f"block {block}", cursor.block_hash, chain_hash))
        events, block_times = read_events(rpc, decoder, start, block) if block >= start else ([], {})
        report.checked["events"] = len(events)
        diffs.extend(_compare_events(session, events))
        diffs.extend(_StateCheck(rpc, contracts, block, report.checked).run(session, events))
        before_ops = _operations(session)
        replay_diffs, confirmed_keys, confirmed_txs = _replay(session, events, block_times, report.checked)
        diffs.extend(replay_diffs)
        diffs.extend(_operation_diffs(session, before_ops, confirmed_keys, confirmed_txs))
        diffs.extend(_applied_operations(rpc, contracts, block, before_ops, report.checked))

        if repair and diffs:
            _repair_operations(session, diffs)
            if cursor is not None and mirrored and chain_hash is not None:
                cursor.block_hash = chain_hash
                session.add(cursor)
            report.repaired = True
            log.warning("reconcile.repaired", differences=len(diffs))
        else:
            session.rollback()  # a check changes nothing
    return report


# -- reading the chain ---------------------------------------------------------------------------


def read_events(
    rpc: JsonRpc, decoder: LogDecoder, start: int, end: int, max_range: int = 5000
) -> tuple[list[DecodedEvent], dict[int, int]]:
    """Every decodable log of our contracts in [start, end], and the time of each block with one."""
    events: list[DecodedEvent] = []
    times: dict[int, int] = {}
    span = max_range
    cursor = start
    while cursor <= end:
        stop = min(end, cursor + span - 1)
        try:
            raw = rpc.get_logs(decoder.addresses, cursor, stop)
        except RangeTooLarge:
            if span == 1:
                raise
            span = max(1, span // 2)
            continue
        for entry in raw:
            try:
                event = decoder.decode(entry)
            except ValueError:
                continue
            if event is not None:
                events.append(event)
                if entry.get("blockTimestamp") is not None:
                    times[event.block_number] = int(entry["blockTimestamp"], 16)
        cursor = stop + 1
    missing = {e.block_number for e in events} - set(times)
    for number, header in rpc.headers(missing).items():
        if header is not None:
            times[number] = header.timestamp
    return events, times


# -- 2. events -----------------------------------------------------------------------------------


def _compare_events(session: Session, events: list[DecodedEvent]) -> list[Difference]:
    table = table_of(ChainEvent)
    rows = session.execute(
        core_select(
            table.c.block_number,
            table.c.block_hash,
            table.c.tx_hash,
            table.c.log_index,
            table.c.name,
            table.c.contract,
            table.c.args,
        )
    ).all()
    stored = {
        (r.block_hash, r.tx_hash, r.log_index): (r.block_number, r.contract, r.name, json.loads(r.args)) for r in rows
    }
    chain = {(e.block_hash, e.tx_hash, e.log_index): (e.block_number, e.contract, e.name, e.args) for e in events}
    diffs: list[Difference] = []
    for key in sorted(chain.keys() | stored.keys(), key=lambda k: (chain.get(k) or stored[k])[0]):
        ours, theirs = stored.get(key), chain.get(key)
        if ours != theirs:
            where = f"block {(theirs or ours)[0]} tx {key[1]} log {key[2]}"  # type: ignore[index]
            diffs.append(Difference("event", where, _event_text(ours), _event_text(theirs)))
    return diffs


def _event_text(event: tuple[int, str, str, dict[str, Any]] | None) -> str | None:
    return None if event is None else f"{event[1]}.{event[2]}{json.dumps(event[3], sort_keys=True)}"


# -- 3. state through view functions ---------------------------------------------------------------


class _StateCheck:
    def __init__(
        self, rpc: JsonRpc, contracts: dict[str, tuple[str, list[dict[str, Any]]]], block: int, checked: dict[str, int]
    ) -> None:
        self.reader = ViewReader(rpc, contracts, max(block, 0))
        self.contracts = contracts
        self.block = block
        self.checked = checked
        # (check, key, mirror value, call index, how to turn the chain's answer into a comparable value)
        self.pending: list[tuple[str, str, Any, int, Any]] = []

    def expect(
        self, check: str, key: str, mirror: Any, contract: str, function: str, *args: Any, convert: Any = None
    ) -> None:
        self.pending.append((check, key, mirror, self.reader.add(contract, function, *args), convert))

    def run(self, session: Session, events: list[DecodedEvent]) -> list[Difference]:
        if self.block < 0:
            return []
        by_name: dict[str, list[DecodedEvent]] = {}
        for e in events:
            by_name.setdefault(e.name, []).append(e)
        if POINTS in self.contracts:
            self._loyalty(session, events)
        if REGISTRY in self.contracts:
            self._registry(session, by_name)
        if PASSPORTS in self.contracts:
            self._passports(session)
        if COLLECTIBLES in self.contracts:
            self._collectibles(session)
        self._roles(session, by_name)
        results = self.reader.run()
        diffs = []
        for check, key, mirror, index, convert in self.pending:
            chain = convert(results[index]) if convert else results[index]
            if chain != mirror:
                diffs.append(Difference(check, key, mirror, chain))
        return diffs

    def _loyalty(self, session: Session, events: list[DecodedEvent]) -> None:
        accounts = {r.address: r for r in session.exec(select(MirrorAccount)).all()}
        addresses = set(accounts)
        for e in events:
            if e.contract == POINTS:
                for name in ("from", "to", "account", "custodial", "wallet"):
                    value = e.args.get(name)
                    if isinstance(value, str) and value != ZERO_ADDRESS:
                        addresses.add(value)
        for address in sorted(addresses):
            row = accounts.get(address)
            self.expect("balanceOf", address, row.balance if row else 0, POINTS, "balanceOf", address)
            self.expect("debtOf", address, row.debt if row else 0, POINTS, "debtOf", address)
            self.expect(
                "isSelfCustodied", address, row.self_custodied if row else False, POINTS, "isSelfCustodied", address
            )
        self.checked["accounts"] = len(addresses)
        state = session.get(MirrorTokenState, 1) or MirrorTokenState(id=1)
        self.expect("totalSupply", POINTS, state.total_supply, POINTS, "totalSupply")
        self.expect("paused", POINTS, state.paused, POINTS, "paused")
        self.expect("memberTransfersEnabled", POINTS, state.member_transfers_enabled, POINTS, "memberTransfersEnabled")
        self.expect("dailyTransferCap", POINTS, state.daily_transfer_cap, POINTS, "dailyTransferCap")
        self.expect("latestRuleVersion", POINTS, state.latest_rule_version, POINTS, "latestRuleVersion")
        rule_sets = {r.version: r.content_hash for r in session.exec(select(MirrorRuleSet)).all()}
        versions = set(rule_sets) | {int(e.args["version"]) for e in events if e.name == "RuleSetPublished"}
        for version in sorted(versions):
            self.expect(
                "ruleSetHash", str(version), rule_sets.get(version, ZERO_BYTES32), POINTS, "ruleSetHash", version
            )
        self.checked["rule sets"] = len(versions)

    def _registry(self, session: Session, by_name: dict[str, list[DecodedEvent]]) -> None:
        def b32(value: str) -> bytes:
            return bytes.fromhex(value[2:])

        orgs = {r.org_id: r for r in session.exec(select(MirrorOrganisation)).all()}
        for org_id in sorted(set(orgs) | {e.args["orgId"] for e in by_name.get("OrganisationUpdated", [])}):
            row = orgs.get(org_id)
            mirror: tuple[Any, ...] = (row.controller, row.roles, row.active) if row else (ZERO_ADDRESS, 0, False)
            self.expect("organisation", org_id, mirror, REGISTRY, "organisation", b32(org_id))
        self.checked["organisations"] = len(
            set(orgs) | {e.args["orgId"] for e in by_name.get("OrganisationUpdated", [])}
        )

        partners = {(r.brand_id, r.partner_id): r.roles for r in session.exec(select(MirrorPartnerRole)).all()}
        pairs = set(partners) | {
            (e.args["ownerId"], e.args["partnerId"]) for e in by_name.get("PartnerRolesUpdated", [])
        }
        for brand, partner in sorted(pairs):
            self.expect(
                "partnerRoles",
                f"{brand}/{partner}",
                partners.get((brand, partner), 0),
                REGISTRY,
                "partnerRoles",
                b32(brand),
                b32(partner),
            )

        prefixes = {r.prefix_key: r.org_id for r in session.exec(select(MirrorCompanyPrefix)).all()}
        keys = set(prefixes) | {int(e.args["prefixKey"]) for e in by_name.get("CompanyPrefixAssigned", [])}
        for key in sorted(keys):
            self.expect("ownerOfPrefix", str(key), prefixes.get(key, ZERO_BYTES32), REGISTRY, "ownerOfPrefix", key)
        self.checked["company prefixes"] = len(keys)

        products = {int(r.gtin): r.brand_id for r in session.exec(select(MirrorProduct)).all()}
        gtins = set(products) | {int(e.args["gtin"]) for e in by_name.get("ProductRegistered", [])}
        for gtin in sorted(gtins):
            self.expect("brandOf", str(gtin), products.get(gtin, ZERO_BYTES32), REGISTRY, "brandOf", gtin)
        self.checked["products"] = len(gtins)

        batches = {r.root: r for r in session.exec(select(MirrorItemBatch)).all()}
        roots = set(batches) | {e.args["root"] for e in by_name.get("ItemsRegistered", [])}
        for root in sorted(roots):
            b = batches.get(root)
            mirror = (int(b.gtin), b.count, b.block_time, b.manufacturer_id) if b else (0, 0, 0, ZERO_BYTES32)
            self.expect("itemBatches", root, mirror, REGISTRY, "itemBatches", b32(root))
        self.checked["item batches"] = len(roots)

        anchors = {r.root: r for r in session.exec(select(MirrorEventAnchor)).all()}
        roots = set(anchors) | {e.args["root"] for e in by_name.get("EventsAnchored", [])}
        for root in sorted(roots):
            a = anchors.get(root)
            mirror = (a.org_id, a.count, a.block_time) if a else (ZERO_BYTES32, 0, 0)
            self.expect("eventAnchors", root, mirror, REGISTRY, "eventAnchors", b32(root))
        self.checked["event anchors"] = len(roots)

        recalls = {r.recall_id: r for r in session.exec(select(MirrorRecall)).all()}
        self.expect("recallCount", REGISTRY, len(recalls), REGISTRY, "recallCount")
        ids = set(recalls) | {int(e.args["recallId"]) for e in by_name.get("RecallIssued", [])}
        for recall_id in sorted(ids):
            r = recalls.get(recall_id)
            mirror = (
                (int(r.gtin), r.count, r.block_time, r.brand_id, r.scope_root)
                if r
                else (0, 0, 0, ZERO_BYTES32, ZERO_BYTES32)
            )
            self.expect("recalls", str(recall_id), mirror, REGISTRY, "recalls", recall_id)
        self.checked["recalls"] = len(ids)
        state = session.get(MirrorTokenState, 1) or MirrorTokenState(id=1)
        self.expect("paused", REGISTRY, state.registry_paused, REGISTRY, "paused")

    def _passports(self, session: Session) -> None:
        """Every mirrored passport's holder is its ``ownerOf`` (passports are never burned), and the
        custody flag its last change left is the contract's (what the API's 409 on a transfer reads)."""
        holders: dict[str, MirrorPassportHolder] = {}
        for row in session.exec(
            select(MirrorPassportHolder).order_by(
                col(MirrorPassportHolder.block_number), col(MirrorPassportHolder.log_index)
            )
        ):
            holders[row.token_id] = row
        for token_id, last in sorted(holders.items()):
            self.expect("ownerOf", token_id, last.holder, PASSPORTS, "ownerOf", int(token_id, 16))
            self.expect(
                "custodial", token_id, last.custodial, PASSPORTS, "passport", int(token_id, 16), convert=_custodial
            )
        state = session.get(MirrorTokenState, 1) or MirrorTokenState()
        self.expect("paused", PASSPORTS, state.passports_paused, PASSPORTS, "paused")
        self.checked["passports"] = len(holders)

    def _collectibles(self, session: Session) -> None:
        """Every (holder, edition) the mirror moved copies of holds what its moves sum to, and has in
        custody what its custody changes sum to; every edition's cap and copies minted; every
        mirrored vote is recorded on chain."""
        held: dict[tuple[str, int], int] = {}
        minted: dict[int, int] = {}
        for move in session.exec(select(MirrorCollectibleMove)):
            if move.previous == ZERO_ADDRESS:
                minted[move.edition] = minted.get(move.edition, 0) + move.amount
            else:
                held[move.previous, move.edition] = held.get((move.previous, move.edition), 0) - move.amount
            held[move.holder, move.edition] = held.get((move.holder, move.edition), 0) + move.amount
        for (holder, edition), copies in sorted(held.items()):
            self.expect("balanceOf", f"{holder}:{edition}", copies, COLLECTIBLES, "balanceOf", holder, edition)
        custody: dict[tuple[str, int], int] = dict.fromkeys(held, 0)
        for change in session.exec(select(MirrorCollectibleCustody)):
            key = (change.holder, change.edition)
            custody[key] = custody.get(key, 0) + change.change
        for (holder, edition), copies in sorted(custody.items()):
            self.expect(
                "custodialBalanceOf", f"{holder}:{edition}", copies, COLLECTIBLES, "custodialBalanceOf", holder, edition
            )
        for row in session.exec(select(MirrorEdition)):
            mirror = (row.cap, minted.get(row.edition, 0))
            self.expect("edition", str(row.edition), mirror, COLLECTIBLES, "edition", row.edition, convert=tuple)
        votes = session.exec(select(MirrorVote)).all()
        for vote in votes:
            self.expect(
                "hasVoted", f"{vote.poll_id}:{vote.voter}", True, COLLECTIBLES, "hasVoted", vote.poll_id, vote.voter
            )
        state = session.get(MirrorTokenState, 1) or MirrorTokenState()
        self.expect("paused", COLLECTIBLES, state.collectibles_paused, COLLECTIBLES, "paused")
        self.checked["collectible_holdings"] = len(held)
        self.checked["votes"] = len(votes)

    def _roles(self, session: Session, by_name: dict[str, list[DecodedEvent]]) -> None:
        held = {(r.contract, r.role, r.account) for r in session.exec(select(MirrorRole)).all()}
        seen = held | {
            (e.contract, e.args["role"], e.args["account"])
            for name in ("RoleGranted", "RoleRevoked")
            for e in by_name.get(name, [])
        }
        for contract, role, account in sorted(seen):
            if contract in self.contracts:
                self.expect(
                    "hasRole",
                    f"{contract} {role} {account}",
                    (contract, role, account) in held,
                    contract,
                    "hasRole",
                    bytes.fromhex(role[2:]),
                    account,
                )
        self.checked["roles"] = len(seen)


def _custodial(passport: Any) -> bool:
    """The ``custodial`` field of ``ItemPassports.passport``'s struct (gtin, issuedAt, custodial)."""
    return bool(passport[2])


def _applied_operations(
    rpc: JsonRpc,
    contracts: dict[str, tuple[str, list[dict[str, Any]]]],
    block: int,
    operations: dict[int, tuple[str, str | None, str | None, str]],
    checked: dict[str, int],
) -> list[Difference]:
    """Operations that carry their outbox id on chain (the catalogue's ``ByOperationId`` kinds):
    confirmed in SQL exactly when applied on chain (at the mirrored block)."""
    if block < 0:
        return []
    ops = sorted(
        (op_id, status, operation_id_contract(kind))
        for op_id, (status, _, _, kind) in operations.items()
        if kind in OPERATION_ID_KINDS and operation_id_contract(kind) in contracts
    )
    reader = ViewReader(rpc, contracts, block)
    for op_id, _, contract in ops:  # each kind's ids are used once on the contract that confirms it
        reader.add(contract, "isOperationApplied", op_id)
    applied = reader.run()
    checked["operations"] = len(ops)
    return [
        Difference("isOperationApplied", f"operation {op_id}", status, "applied" if on_chain else "not applied")
        for (op_id, status, _), on_chain in zip(ops, applied, strict=True)
        if on_chain != (status == OperationStatus.CONFIRMED)
    ]


# -- 4. replay -------------------------------------------------------------------------------------


def mirror_tables() -> list[Table]:
    """Every table written only by the indexer's handlers (by convention, named ``mirror_*``)."""
    return [t for name, t in sorted(SQLModel.metadata.tables.items()) if name.startswith(MIRROR_PREFIX)]


def _replay(
    session: Session, events: list[DecodedEvent], block_times: dict[int, int], checked: dict[str, int]
) -> tuple[list[Difference], set[str], set[str]]:
    tables = mirror_tables()
    before = {t.name: _rows(session, t) for t in tables}
    for t in tables:
        session.execute(delete(t))
    session.execute(delete(table_of(ChainEvent)))
    found = apply_events(session, events, block_times)
    diffs: list[Difference] = []
    rows = 0
    for t in tables:
        after = _rows(session, t)
        rows += len(after)
        diffs.extend(_table_diffs(t, before[t.name], after))
    checked["mirror rows"] = rows
    return diffs, set(found.keys), {e.tx_hash for e in events}


def _rows(session: Session, table: Table) -> list[dict[str, Any]]:
    surrogate = _surrogate_key(table)
    defaults = _default_row(table)
    rows = []
    for row in session.execute(core_select(table)).mappings():
        values = {k: v for k, v in row.items() if k != surrogate}
        if values != defaults:  # a row of nothing but defaults says nothing the chain could contradict
            rows.append(values)
    return rows


def _surrogate_key(table: Table) -> str | None:
    """An autoincrement id that differs between equal rows written at different times."""
    keys = list(table.primary_key.columns)
    if len(keys) == 1 and keys[0].name == "id" and keys[0].autoincrement in (True, "auto") and not keys[0].default:
        return "id"
    return None


def _default_row(table: Table) -> dict[str, Any] | None:
    """The row a model builds from defaults alone (singletons such as mirror_token_state)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is None or not getattr(default, "is_scalar", False):
            return None
        values[column.name] = default.arg  # type: ignore[attr-defined]
    return values


def _table_diffs(table: Table, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Difference]:
    if _surrogate_key(table) is None:
        keys = [c.name for c in table.primary_key.columns]
        ours = {tuple(r[k] for k in keys): r for r in before}
        theirs = {tuple(r[k] for k in keys): r for r in after}
        return [
            Difference(table.name, _key_text(keys, key), ours.get(key), theirs.get(key))
            for key in sorted(ours.keys() | theirs.keys(), key=repr)
            if ours.get(key) != theirs.get(key)
        ]
    ours_count, theirs_count = Counter(_frozen(r) for r in before), Counter(_frozen(r) for r in after)
    diffs = []
    for row in sorted((ours_count - theirs_count).elements(), key=repr):
        diffs.append(Difference(table.name, "row", dict(row), None))
    for row in sorted((theirs_count - ours_count).elements(), key=repr):
        diffs.append(Difference(table.name, "row", None, dict(row)))
    return diffs


def _frozen(row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(row.items()))


def _key_text(names: list[str], key: tuple[Any, ...]) -> str:
    return ",".join(f"{n}={v}" for n, v in zip(names, key, strict=True))


# -- operations ------------------------------------------------------------------------------------


def _operations(session: Session) -> dict[int, tuple[str, str | None, str | None, str]]:
    table = table_of(Operation)
    return {
        r.id: (r.status, r.confirm_key, r.tx_hash, r.kind)
        for r in session.execute(
            core_select(table.c.id, table.c.status, table.c.confirm_key, table.c.tx_hash, table.c.kind)
        )
    }


def _operation_diffs(
    session: Session,
    before: dict[int, tuple[str, str | None, str | None, str]],
    confirmed_keys: set[str],
    confirmed_txs: set[str],
) -> list[Difference]:
    """Operations (other than those carrying their id, checked on chain) whose status the events contradict."""
    after = _operations(session)
    diffs = []
    for op_id, (status, confirm_key, tx_hash, kind) in before.items():
        if kind in OPERATION_ID_KINDS or kind in CONFIRMED_BY_RECEIPT:
            continue
        now = after[op_id][0]
        if status != OperationStatus.CONFIRMED and now == OperationStatus.CONFIRMED:
            diffs.append(Difference("operation", f"operation {op_id} ({kind})", status, "event on chain"))
        supported = confirm_key in confirmed_keys or tx_hash in confirmed_txs
        if status == OperationStatus.CONFIRMED and not supported:
            diffs.append(Difference("operation", f"operation {op_id} ({kind})", status, "no event on chain"))
    return diffs


def _repair_operations(session: Session, diffs: Iterable[Difference]) -> None:
    """Return confirmed operations that the chain does not have to ``sent`` (the sender re-sends
    or recovers them); the replay already confirmed those the chain has."""
    table = table_of(Operation)
    unsupported = [
        int(d.key.split()[1])
        for d in diffs
        if (d.check == "operation" and d.chain == "no event on chain")
        or (d.check == "isOperationApplied" and d.chain == "not applied")
    ]
    if unsupported:
        session.execute(
            update(table)
            .where(table.c.id.in_(unsupported), table.c.status == OperationStatus.CONFIRMED)
            .values(status=OperationStatus.SENT, confirmed_block=None, confirmed_at=None)
        )


# -- formatting ------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
