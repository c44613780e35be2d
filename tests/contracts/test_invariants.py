"""Foundry-style invariant tests of LoyaltyPoints, in Python against a real Anvil.

Hypothesis drives random sequences of awards, reversals, redemptions (relayed and by permit),
expiries, relayed and direct member transfers, wallet claims, pauses, policy changes, replays
of used operation ids and calls by a role-less stranger. A plain-Python model predicts each
outcome (success, or the exact custom error); after every step the invariants are checked
against the chain:

* total supply = sum of mints - sum of burns (from the Transfer events of every mined transaction)
  = sum of balances of every account that ever held points;
* balances, debts and custody flags equal the model's (debts are never negative);
* an operation id appears in at most one event, and is marked applied on chain exactly when
  the model applied it;
* a call by an account without a role, mined on chain (not only simulated), changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from backend.chain.context import context_for
from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner, TransactionFailed
from backend.chain.manifest import Manifest
from tests.budget import chain_settings
from tests.permits import sign_permit
from tests.support import rpc

pytestmark = [pytest.mark.chain, pytest.mark.fuzz]

REF = b"\x42" * 32
ZERO = "0x0000000000000000000000000000000000000000"
CUSTODIAL = 3  # accounts whose keys nobody holds (operated by the issuer)
WALLETS = 2  # accounts with keys (can claim, transfer directly and sign permits)
OP_EVENTS = ("PointsAwarded", "PointsReversed", "PointsRedeemed", "PointsExpired", "PointsTransferred", "WalletClaimed")

amounts = st.integers(min_value=1, max_value=70).map(lambda n: 0 if n > 60 else n)  # 0 one time in seven
# How much of an account's balance to burn or move: 0-100 take 100-0 % of it, 101-130 more than
# it holds, above 130 an absolute amount; burns and transfers then mostly fit the balance.
shares = st.integers(min_value=0, max_value=190)
reuses = st.integers(0, 7).map(lambda n: n == 7)  # replay a used operation id one time in eight
members = st.integers(0, CUSTODIAL + WALLETS - 1)


@dataclass
class Model:
    """What the chain should hold."""

    balances: dict[str, int]
    debts: dict[str, int]
    self_custodied: set[str] = field(default_factory=set)
    applied: set[int] = field(default_factory=set)
    paused: bool = False
    transfers_enabled: bool = False
    next_op: int = 1

    @property
    def supply(self) -> int:
        return sum(self.balances.values())


class Rejected(Exception):
    """The model says the call reverts with this custom error."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Harness:
    w3: Web3
    points: Contract
    admin: LocalSigner
    issuer: LocalSigner
    operator: LocalSigner
    stranger: LocalSigner
    wallets: list[LocalSigner]
    custodial: list[str]


@pytest.fixture
def harness(clean_chain: Web3, deployment: Manifest, dev_keys: list[str]) -> Harness:
    points = context_for(clean_chain, 31337, deployment).points
    admin = LocalSigner(clean_chain, dev_keys[DEV_ACCOUNT["deployer"]], 31337)
    operator = LocalSigner(clean_chain, dev_keys[DEV_ACCOUNT["operator"]], 31337)
    wallets = []
    for _ in range(WALLETS):
        key = Account.create().key.to_0x_hex()
        wallets.append(LocalSigner(clean_chain, key, 31337))
        rpc(clean_chain, "anvil_setBalance", wallets[-1].address, hex(10**20))
    harness = Harness(
        w3=clean_chain,
        points=points,
        admin=admin,
        issuer=LocalSigner(clean_chain, dev_keys[DEV_ACCOUNT["issuer"]], 31337),
        operator=operator,
        stranger=LocalSigner(clean_chain, dev_keys[5], 31337),
        wallets=wallets,
        custodial=[str(Account.create().address) for _ in range(CUSTODIAL)],
    )
    operator.transact(_tx(points.functions.publishRuleSet(1, b"\x01" * 32)))
    return harness


def _tx(call: Any) -> dict[str, Any]:
    return {"to": call.address, "data": call._encode_transaction_data()}


def test_loyalty_points_invariants(harness: Harness) -> None:
    h = harness

    class LoyaltyMachine(RuleBasedStateMachine):
        """One example: a fresh chain snapshot, a sequence of operations, a revert."""

        @initialize(
            opening=st.lists(st.integers(1, 100), min_size=CUSTODIAL + WALLETS, max_size=CUSTODIAL + WALLETS),
            transfers=st.booleans(),
        )
        def start(self, opening: list[int], transfers: bool) -> None:
            self.snapshot = rpc(h.w3, "evm_snapshot")
            for signer in (h.admin, h.issuer, h.operator, h.stranger, *h.wallets):
                signer.reset_nonce()
            self.accounts = [*h.custodial, *(w.address for w in h.wallets)]
            self.model = Model(balances=dict.fromkeys(self.accounts, 0), debts=dict.fromkeys(self.accounts, 0))
            self.minted = 0
            self.burned = 0
            self.op_seen: dict[int, str] = {}
            self.permit_nonce = dict.fromkeys((w.address for w in h.wallets), 0)
            # Every account starts with points (and transfers maybe on), so burns and moves mostly
            # meet a balance; the rules then take the ledger anywhere from there.
            self.award([(i, amount, False, 0) for i, amount in enumerate(opening)], 1)
            self.set_policy(transfers, 0)

        def teardown(self) -> None:
            if hasattr(self, "snapshot"):
                rpc(h.w3, "evm_revert", self.snapshot)

        # --- helpers -------------------------------------------------------------------

        def op(self, reuse: bool, pick: int) -> int:
            if reuse and self.model.applied:
                return sorted(self.model.applied)[pick % len(self.model.applied)]
            op = self.model.next_op
            self.model.next_op += 1
            return op

        def amount(self, account: str, share: int) -> int:
            balance = self.model.balances[account]
            if share <= 100:
                return balance * (100 - share) // 100
            return balance * share // 100 if share <= 130 else share - 130

        def issuer_gate(self) -> None:
            """Every issuer operation stops while paused (whenNotPaused), before anything else."""
            if self.model.paused:
                raise Rejected("EnforcedPause")

        def use(self, op: int, used: set[int]) -> None:
            if op in self.model.applied or op in used:
                raise Rejected("LoyaltyPointsAlreadyAppliedOperation")
            used.add(op)

        def move(self, balances: dict[str, int], source: str | None, target: str | None, value: int) -> None:
            """A token movement (mint, burn or transfer) as ERC20Pausable._update sees it."""
            if self.model.paused:
                raise Rejected("EnforcedPause")
            if source is not None:
                if balances[source] < value:
                    raise Rejected("ERC20InsufficientBalance")
                balances[source] -= value
            if target is not None:
                balances[target] += value

        def check_member_transfer(self, source: str, target: str, amount: int) -> None:
            if not self.model.transfers_enabled:
                raise Rejected("LoyaltyPointsDisabledMemberTransfers")
            if source == target:
                raise Rejected("LoyaltyPointsInvalidReceiver")
            if amount == 0:
                raise Rejected("LoyaltyPointsZeroAmount")
            if amount > h.points.functions.remainingTransferAllowance(source).call():
                raise Rejected("LoyaltyPointsExceededDailyTransferCap")

        def execute(self, signer: LocalSigner, call: Any, predict: Any) -> None:
            """Predict with the model (on copies), send, compare, then commit the model."""
            balances, debts = dict(self.model.balances), dict(self.model.debts)
            custodied, used = set(self.model.self_custodied), set[int]()
            expected: str | None = None
            try:
                predict(balances, debts, custodied, used)
            except Rejected as rejected:
                expected = rejected.error
            event(f"{call.fn_name}: {expected or 'applied'}")
            try:
                receipt = signer.transact(_tx(call))  # type: ignore[arg-type]
            except TransactionFailed as failed:
                reverted = failed.error_name
            else:
                reverted = None
            if reverted is not None or expected is not None:
                assert reverted == expected, f"chain reverted with {reverted}, model: {expected}"
                return
            assert expected is None, f"chain accepted a call the model expects to fail with {expected}"
            self.record(receipt)
            self.model.balances, self.model.debts, self.model.self_custodied = balances, debts, custodied
            self.model.applied |= used

        def record(self, receipt: TxReceipt) -> None:
            for transfer in h.points.events.Transfer().process_receipt(receipt, errors=DISCARD):
                if transfer["args"]["from"] == ZERO:
                    self.minted += transfer["args"]["value"]
                if transfer["args"]["to"] == ZERO:
                    self.burned += transfer["args"]["value"]
            for name in OP_EVENTS:
                for log in getattr(h.points.events, name)().process_receipt(receipt, errors=DISCARD):
                    op = int(log["args"]["operationId"])
                    assert op not in self.op_seen, f"operation {op} in {name} and {self.op_seen.get(op)}"
                    self.op_seen[op] = name

        def fingerprint(self) -> tuple[Any, ...]:
            p = h.points.functions
            return (
                p.totalSupply().call(),
                p.paused().call(),
                p.memberTransfersEnabled().call(),
                p.dailyTransferCap().call(),
                p.latestRuleVersion().call(),
                tuple(p.balanceOf(a).call() for a in self.accounts),
                tuple(p.debtOf(a).call() for a in self.accounts),
                tuple(p.isSelfCustodied(a).call() for a in self.accounts),
                tuple(p.isOperationApplied(op).call() for op in (*sorted(self.model.applied)[-5:], self.model.next_op)),
            )

        # --- issuer operations -----------------------------------------------------------

        @rule(
            awards=st.lists(st.tuples(members, amounts, reuses, st.integers(0, 99)), min_size=1, max_size=4),
            version=st.sampled_from([1] * 9 + [2]),
        )
        def award(self, awards: list[tuple[int, int, bool, int]], version: int) -> None:
            batch = [
                (self.accounts[i], self.op(reuse, pick), version, amount, REF) for i, amount, reuse, pick in awards
            ]

            def predict(balances: dict[str, int], debts: dict[str, int], _c: set[str], used: set[int]) -> None:
                self.issuer_gate()
                for account, op, rule_version, amount, _ref in batch:
                    self.use(op, used)
                    if amount == 0:
                        raise Rejected("LoyaltyPointsZeroAmount")
                    if rule_version != 1:
                        raise Rejected("LoyaltyPointsNonexistentRuleSet")
                    repaid = min(amount, debts[account])
                    debts[account] -= repaid
                    if amount > repaid:
                        self.move(balances, None, account, amount - repaid)

            self.execute(h.issuer, h.points.functions.awardBatch(batch), predict)

        @rule(who=members, amount=amounts, reuse=reuses, pick=st.integers(0, 99))
        def reverse(self, who: int, amount: int, reuse: bool, pick: int) -> None:
            account, op = self.accounts[who], self.op(reuse, pick)

            def predict(balances: dict[str, int], debts: dict[str, int], _c: set[str], used: set[int]) -> None:
                self.issuer_gate()
                self.use(op, used)
                if amount == 0:
                    raise Rejected("LoyaltyPointsZeroAmount")
                burned = min(amount, balances[account])
                if burned:
                    self.move(balances, account, None, burned)
                debts[account] += amount - burned

            self.execute(h.issuer, h.points.functions.reverse(account, op, amount, REF), predict)

        @rule(who=members, share=shares, reuse=reuses, pick=st.integers(0, 99))
        def redeem_for(self, who: int, share: int, reuse: bool, pick: int) -> None:
            account, op = self.accounts[who], self.op(reuse, pick)
            amount = self.amount(account, share)

            def predict(balances: dict[str, int], _d: dict[str, int], custodied: set[str], used: set[int]) -> None:
                self.issuer_gate()
                if account in custodied:
                    raise Rejected("LoyaltyPointsSelfCustodiedAccount")
                self.use(op, used)
                if amount == 0:
                    raise Rejected("LoyaltyPointsZeroAmount")
                self.move(balances, account, None, amount)

            self.execute(h.issuer, h.points.functions.redeemFor(account, op, amount, REF), predict)

        @rule(
            expiries=st.lists(st.tuples(members, amounts, reuses, st.integers(0, 99)), min_size=1, max_size=3),
        )
        def expire(self, expiries: list[tuple[int, int, bool, int]]) -> None:
            batch = [(self.accounts[i], self.op(reuse, pick), amount) for i, amount, reuse, pick in expiries]

            def predict(balances: dict[str, int], _d: dict[str, int], _c: set[str], used: set[int]) -> None:
                self.issuer_gate()
                for account, op, amount in batch:
                    self.use(op, used)
                    burned = min(amount, balances[account])
                    if burned:
                        self.move(balances, account, None, burned)

            self.execute(h.issuer, h.points.functions.expireBatch(batch), predict)

        @rule(src=members, dst=members, share=shares)
        def transfer_for(self, src: int, dst: int, share: int) -> None:
            source, target, op = self.accounts[src], self.accounts[dst], self.op(False, 0)
            amount = self.amount(source, share)

            def predict(balances: dict[str, int], _d: dict[str, int], custodied: set[str], used: set[int]) -> None:
                self.issuer_gate()
                if source in custodied:
                    raise Rejected("LoyaltyPointsSelfCustodiedAccount")
                self.use(op, used)
                self.check_member_transfer(source, target, amount)
                self.move(balances, source, target, amount)

            self.execute(h.issuer, h.points.functions.transferFor(op, source, target, amount, REF), predict)

        @rule(custodial=members, wallet=st.integers(0, WALLETS - 1))
        def claim_wallet(self, custodial: int, wallet: int) -> None:
            source, target, op = self.accounts[custodial], h.wallets[wallet].address, self.op(False, 0)

            def predict(balances: dict[str, int], debts: dict[str, int], custodied: set[str], used: set[int]) -> None:
                self.issuer_gate()
                if source in custodied:
                    raise Rejected("LoyaltyPointsSelfCustodiedAccount")
                self.use(op, used)
                if source == target:
                    raise Rejected("LoyaltyPointsInvalidReceiver")
                custodied.add(target)
                if balances[source]:
                    self.move(balances, source, target, balances[source])
                debts[target] += debts[source]
                debts[source] = 0

            self.execute(h.issuer, h.points.functions.claimWallet(op, source, target), predict)

        # --- customers with keys --------------------------------------------------------

        @rule(wallet=st.integers(0, WALLETS - 1), dst=members, share=shares)
        def wallet_transfer(self, wallet: int, dst: int, share: int) -> None:
            signer, target = h.wallets[wallet], self.accounts[dst]
            amount = self.amount(signer.address, share)

            def predict(balances: dict[str, int], _d: dict[str, int], _c: set[str], _u: set[int]) -> None:
                self.check_member_transfer(signer.address, target, amount)
                self.move(balances, signer.address, target, amount)

            self.execute(signer, h.points.functions.transfer(target, amount), predict)

        @rule(wallet=st.integers(0, WALLETS - 1), share=shares, reuse=reuses, pick=st.integers(0, 99))
        def redeem_with_permit(self, wallet: int, share: int, reuse: bool, pick: int) -> None:
            owner = h.wallets[wallet]
            amount = self.amount(owner.address, share)
            op, nonce = self.op(reuse, pick), self.permit_nonce[owner.address]
            v, r, s = self.sign_permit(owner, amount, nonce)
            call = h.points.functions.redeemWithPermit(owner.address, op, amount, REF, 2**40, v, r, s)

            def predict(balances: dict[str, int], _d: dict[str, int], _c: set[str], used: set[int]) -> None:
                self.issuer_gate()
                self.use(op, used)
                if amount == 0:
                    raise Rejected("LoyaltyPointsZeroAmount")
                self.move(balances, owner.address, None, amount)

            before = len(self.model.applied)
            self.execute(h.issuer, call, predict)
            if len(self.model.applied) > before:
                self.permit_nonce[owner.address] += 1

        @rule(wallet=st.integers(0, WALLETS - 1), share=shares, pick=st.integers(0, 99))
        def redeem_an_old_allowance(self, wallet: int, share: int, pick: int) -> None:
            """The owner once approved the token (or submitted a permit): the issuer still cannot
            redeem without the owner's signature of exactly this redemption."""
            owner = h.wallets[wallet]
            amount = self.amount(owner.address, share)
            self.execute(owner, h.points.functions.approve(h.points.address, amount + 1), lambda *_: None)
            op, nonce = self.op(False, pick), self.permit_nonce[owner.address]
            v, r, s = self.sign_permit(owner, amount + 1, nonce)  # signed, but for another amount
            call = h.points.functions.redeemWithPermit(owner.address, op, amount, REF, 2**40, v, r, s)

            def predict(_b: dict[str, int], _d: dict[str, int], _c: set[str], used: set[int]) -> None:
                self.issuer_gate()
                self.use(op, used)
                if amount == 0:
                    raise Rejected("LoyaltyPointsZeroAmount")
                raise Rejected("ERC2612InvalidSigner")

            self.execute(h.issuer, call, predict)

        def sign_permit(self, owner: LocalSigner, value: int, nonce: int) -> tuple[int, bytes, bytes]:
            return sign_permit(owner.account, h.points.address, value, nonce)

        # --- admin ------------------------------------------------------------------------

        @rule(flip=st.integers(0, 2))
        def toggle_pause(self, flip: int) -> None:
            """Unpause whenever paused; pause one time in three (long pauses starve the rest)."""
            pausing = not self.model.paused
            if pausing and flip:
                return
            call = h.points.functions.pause() if pausing else h.points.functions.unpause()
            self.execute(h.admin, call, lambda *_: None)
            self.model.paused = pausing

        @rule(enabled=st.booleans(), cap=st.sampled_from([0, 0, 25, 100]))
        def set_policy(self, enabled: bool, cap: int) -> None:
            self.execute(h.operator, h.points.functions.setTransferPolicy(enabled, cap), lambda *_: None)
            self.model.transfers_enabled = enabled

        # --- attackers --------------------------------------------------------------------

        @rule(choice=st.integers(0, 11), who=members, amount=st.integers(1, 1000))
        def stranger_is_refused(self, choice: int, who: int, amount: int) -> None:
            """A role-less caller's transaction is mined and reverts; the state is unchanged."""
            p, account, op = h.points.functions, self.accounts[who], self.model.next_op
            calls = [
                p.awardBatch([(h.stranger.address, op, 1, amount, REF)]),
                p.reverse(account, op, amount, REF),
                p.redeemFor(account, op, amount, REF),
                p.expireBatch([(account, op, amount)]),
                p.transferFor(op, account, h.stranger.address, amount, REF),
                p.claimWallet(op, account, h.stranger.address),
                p.publishRuleSet(2, b"\x02" * 32),
                p.setTransferPolicy(True, 0),
                p.pause(),
                p.unpause(),
                p.grantRole(p.ISSUER_ROLE().call(), h.stranger.address),
                p.redeemWithPermit(account, op, amount, REF, 0, 27, b"\x01" * 32, b"\x01" * 32),
            ]
            before = self.fingerprint()
            # Explicit gas: skip the simulation, so the transaction is really mined (and reverts).
            built = h.stranger.build({**_tx(calls[choice]), "gas": 300_000})  # type: ignore[typeddict-item]
            built["nonce"] = h.stranger.take_nonce()  # type: ignore[typeddict-unknown-key]
            receipt = h.w3.eth.wait_for_transaction_receipt(h.stranger.send_built(built), poll_latency=0.02)
            assert receipt["status"] == 0
            assert self.fingerprint() == before

        # --- invariants -------------------------------------------------------------------

        @invariant()
        def ledger_matches(self) -> None:
            if not hasattr(self, "model"):
                return
            p = h.points.functions
            supply = p.totalSupply().call()
            balances = {a: p.balanceOf(a).call() for a in self.accounts}
            assert supply == self.minted - self.burned == sum(balances.values()) == self.model.supply
            assert balances == self.model.balances
            assert {a: p.debtOf(a).call() for a in self.accounts} == self.model.debts
            assert {a for a in self.accounts if p.isSelfCustodied(a).call()} == self.model.self_custodied
            assert p.paused().call() == self.model.paused

        @invariant()
        def operations_apply_at_most_once(self) -> None:
            if not hasattr(self, "model"):
                return
            assert set(self.op_seen) <= self.model.applied
            latest = self.model.next_op
            for op in (*sorted(self.model.applied)[-3:], latest, latest + 1):
                assert h.points.functions.isOperationApplied(op).call() == (op in self.model.applied)

    run_state_machine_as_test(LoyaltyMachine, settings=chain_settings(short=10, long=50))


def test_pause_freezes_the_whole_ledger(harness: Harness) -> None:
    """While paused no issuer operation applies: no balance, supply, debt or operation id moves,
    not even for an operation that would change no balance (a reversal of an empty account)."""
    h, p = harness, harness.points.functions
    alice, empty = h.custodial[0], h.custodial[1]
    h.issuer.transact(_tx(p.awardBatch([(alice, 1, 1, 10, REF)])))  # type: ignore[arg-type]
    h.admin.transact(_tx(p.pause()))  # type: ignore[arg-type]
    for call in (
        p.awardBatch([(alice, 2, 1, 5, REF)]),
        p.reverse(alice, 3, 4, REF),
        p.redeemFor(alice, 4, 1, REF),
        p.expireBatch([(alice, 5, 1)]),
        p.claimWallet(6, alice, h.wallets[0].address),
        p.reverse(empty, 7, 4, REF),
        p.expireBatch([(empty, 8, 1)]),
        p.claimWallet(9, empty, h.wallets[1].address),
        p.transferFor(10, alice, empty, 1, REF),
    ):
        with pytest.raises(TransactionFailed) as failed:
            h.issuer.transact(_tx(call))  # type: ignore[arg-type]
        assert failed.value.error_name == "EnforcedPause"
    assert (p.balanceOf(alice).call(), p.totalSupply().call(), p.debtOf(empty).call()) == (10, 10, 0)
    assert not any(p.isOperationApplied(op).call() for op in range(2, 11))
    assert not p.isSelfCustodied(h.wallets[1].address).call()


def test_role_less_callers_change_nothing_in_the_registry(
    clean_chain: Web3, deployment: Manifest, dev_keys: list[str]
) -> None:
    """Random writes to ProvenanceRegistry by an account that is no organisation and holds no role
    are mined, revert, and leave every piece of state they aimed at as it was."""
    registry = context_for(clean_chain, 31337, deployment).registry
    stranger = LocalSigner(clean_chain, dev_keys[6], 31337)
    r = registry.functions
    ids = st.sampled_from([b"\x00" * 32, b"\x01" * 32, bytes.fromhex("ab" * 32)])
    gtins_ = st.integers(min_value=0, max_value=10**14)
    calls = st.one_of(
        st.builds(
            lambda i, a, ro, ac: r.setOrganisation(i, a, ro, ac),
            ids,
            st.just(stranger.address),
            st.integers(0, 15),
            st.booleans(),
        ),
        st.builds(lambda k, b: r.assignCompanyPrefix(k, b), st.integers(10**6, 2 * 10**12), ids),
        st.builds(lambda g: r.registerProduct(g), gtins_),
        st.builds(lambda p, ro: r.setPartnerRoles(p, ro), ids, st.integers(0, 15)),
        st.builds(lambda g, root, c: r.registerItems(g, root, c), gtins_, ids, st.integers(0, 2**32 - 1)),
        st.builds(lambda root, c: r.anchorEvents(root, c), ids, st.integers(0, 2**32 - 1)),
        st.builds(lambda g, root, c, why: r.recall(g, root, c, why), gtins_, ids, st.integers(0, 100), ids),
        st.just(r.pause()),
        st.just(r.unpause()),
        st.builds(
            lambda role: r.grantRole(role, stranger.address),
            st.sampled_from([b"\x00" * 32, r.REGISTRAR_ROLE().call(), r.PAUSER_ROLE().call()]),
        ),
    )

    def fingerprint(call: Any) -> tuple[Any, ...]:
        args = call.args
        root = next((a for a in args if isinstance(a, bytes)), b"\x01" * 32)
        gtin = next((a for a in args if type(a) is int and 0 < a < 10**14), 1)  # not a bool flag
        return (
            r.paused().call(),
            r.recallCount().call(),
            r.organisationOf(stranger.address).call(),
            r.organisation(root).call(),
            r.brandOf(gtin).call(),
            r.itemBatches(root).call(),
            r.eventAnchors(root).call(),
            r.recallOfScope(root, root).call(),
            r.isGtinRecalled(gtin).call(),
            r.partnerRoles(root, root).call(),
            r.hasRole(b"\x00" * 32, stranger.address).call(),
            r.hasRole(r.REGISTRAR_ROLE().call(), stranger.address).call(),
        )

    @given(calls)
    @chain_settings(short=25, long=300)
    def check(call: Any) -> None:
        before = fingerprint(call)
        built = stranger.build({"to": registry.address, "data": call._encode_transaction_data(), "gas": 300_000})  # type: ignore[typeddict-item]
        built["nonce"] = stranger.take_nonce()  # type: ignore[typeddict-unknown-key]
        receipt = clean_chain.eth.wait_for_transaction_receipt(stranger.send_built(built), poll_latency=0.02)
        assert receipt["status"] == 0
        assert fingerprint(call) == before

    check()
