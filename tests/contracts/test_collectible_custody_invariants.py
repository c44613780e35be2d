"""Invariant test of CollectibleRewards' custody on a real Anvil: "the platform's keys can never move
a copy held in a member's own wallet".

Hypothesis drives random sequences of mints (marked custodial or not, to custodial addresses and to
wallets: a custodial mint to a wallet is the platform's mistake, or a leaked issuer key), relayed
transfers by the issuer (any amount, either receiver kind, replayed operation ids) and transfers
the wallets sign themselves. A plain-Python model predicts each outcome (success, or the exact
custom error); after every step, for every address, the balance and the custodial count equal the
model's and the count never exceeds the balance. The model's rule is the contract's promise: a
relay moves at most the copies in custody; a holder's own transfer moves its other copies first
and takes any custodial copy it moves out of custody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from eth_account import Account
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import Web3
from web3.contract import Contract

from backend.chain.local_signer import LocalSigner, TransactionFailed
from tests.budget import chain_settings
from tests.contracts.conftest import Roles
from tests.contracts.helpers import send
from tests.support import rpc

pytestmark = [pytest.mark.chain, pytest.mark.fuzz]

EDITION = 9
CUSTODIAL, WALLETS = 2, 2
holders = st.integers(0, CUSTODIAL + WALLETS - 1)
wallets = st.integers(0, WALLETS - 1)


@dataclass
class Model:
    balance: dict[str, int]
    custody: dict[str, int]
    applied: set[int] = field(default_factory=set)
    next_op: int = 1


class Rejected(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def test_the_issuer_never_moves_more_than_it_holds_in_custody(
    clean_chain: Web3, collectibles: Contract, roles: Roles
) -> None:
    send(roles.operator, collectibles.functions.createEdition(EDITION, 10**6))
    keyed = [LocalSigner(clean_chain, Account.create().key.to_0x_hex(), 31337) for _ in range(WALLETS)]
    for signer in keyed:
        rpc(clean_chain, "anvil_setBalance", signer.address, hex(10**20))
    keyless = [str(Account.create().address) for _ in range(CUSTODIAL)]
    accounts = [*keyless, *(w.address for w in keyed)]

    class CustodyMachine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.snapshot = rpc(clean_chain, "evm_snapshot")
            for signer in (roles.issuer, *keyed):
                signer.reset_nonce()
            self.model = Model(dict.fromkeys(accounts, 0), dict.fromkeys(accounts, 0))
            for index, holder in enumerate(accounts):  # as members redeem: in custody at custodial addresses
                self.mint(index, 2, holder in keyless)
            self.mint(CUSTODIAL, 1, True)  # and one mistake: a wallet's copy marked custodial

        def teardown(self) -> None:
            if hasattr(self, "snapshot"):
                rpc(clean_chain, "evm_revert", self.snapshot)

        def op(self, reuse: bool) -> int:
            if reuse and self.model.applied:
                return min(self.model.applied)
            self.model.next_op += 1
            return self.model.next_op - 1

        def run(self, signer: LocalSigner, call: object, predicted: str | None) -> None:
            try:
                send(signer, call)  # type: ignore[arg-type]
                error = None
            except TransactionFailed as failed:
                error = failed.error_name
            assert error == predicted

        @rule(to=holders, amount=st.integers(1, 3), custodial=st.booleans())
        def mint(self, to: int, amount: int, custodial: bool) -> None:
            op, holder = self.op(False), accounts[to]
            self.run(roles.issuer, collectibles.functions.mint((holder, op, EDITION, amount, custodial)), None)
            self.model.applied.add(op)
            self.model.balance[holder] += amount
            self.model.custody[holder] += amount if custodial else 0

        @rule(
            pick=st.integers(0, 7),
            to_index=holders,
            share=st.integers(0, 5),
            to_custodial=st.booleans(),
            reuse=st.integers(0, 5).map(lambda n: n == 5),
        )
        def relay(self, pick: int, to_index: int, share: int, to_custodial: bool, reuse: bool) -> None:
            """Mostly from an address with copies in custody (else any), mostly within its count
            (``share`` 0: none, 5: one more than it holds in custody)."""
            m = self.model
            in_custody = [a for a in accounts if m.custody[a] > 0]
            giver = in_custody[pick % len(in_custody)] if in_custody and pick < 6 else accounts[pick % len(accounts)]
            amount = m.custody[giver] + 1 if share == 5 else min(share, m.custody[giver])
            op, receiver = self.op(reuse), accounts[to_index]
            call = collectibles.functions.relayTransfer(op, giver, receiver, EDITION, amount, to_custodial)
            if amount == 0 or amount > m.custody[giver]:
                return self.run(roles.issuer, call, "CollectibleRewardsInsufficientCustody")
            if op in m.applied:
                return self.run(roles.issuer, call, "CollectibleRewardsAlreadyAppliedOperation")
            self.run(roles.issuer, call, None)
            event("relay applied")
            m.applied.add(op)
            m.custody[giver] -= amount
            m.custody[receiver] += amount if to_custodial else 0
            m.balance[giver] -= amount
            m.balance[receiver] += amount
            return None

        @rule(wallet=wallets, to_index=holders, share=st.integers(0, 4))
        def wallet_transfer(self, wallet: int, to_index: int, share: int) -> None:
            """``share`` 0-2 copies, 3: every copy the wallet holds, 4: one more than that."""
            signer, receiver, m = keyed[wallet], accounts[to_index], self.model
            amount = share if share < 3 else m.balance[signer.address] + share - 3
            call = collectibles.functions.safeTransferFrom(signer.address, receiver, EDITION, amount, b"")
            if amount > m.balance[signer.address]:
                return self.run(signer, call, "ERC1155InsufficientBalance")
            self.run(signer, call, None)
            m.balance[signer.address] -= amount
            m.balance[receiver] += amount
            released = m.custody[signer.address] - min(m.custody[signer.address], m.balance[signer.address])
            if released:
                event("a wallet's own transfer released custody")
            m.custody[signer.address] -= released
            return None

        @invariant()
        def custody_is_the_models_and_within_the_balance(self) -> None:
            if not hasattr(self, "model"):
                return
            for address in accounts:
                balance = collectibles.functions.balanceOf(address, EDITION).call()
                custody = collectibles.functions.custodialBalanceOf(address, EDITION).call()
                assert (balance, custody) == (self.model.balance[address], self.model.custody[address]), address
                assert custody <= balance

    run_state_machine_as_test(CustodyMachine, settings=chain_settings(short=8, long=50, steps=(20, 60)))
