"""Local transaction signing with our own nonce counter.

Signing locally (coincurve-backed eth-keys) and counting nonces ourselves avoids a round trip
per transaction (`eth_sendTransaction`, `eth_getTransactionCount`); the counter re-syncs from
the chain when a node says the nonce is too low.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt

from backend.chain.reverts import decode_revert

GAS_BUFFER = 1.25
DEFAULT_PRIORITY_FEE = Web3.to_wei(1, "gwei")


class TransactionFailed(RuntimeError):
    """The transaction reverted (on simulation or on chain)."""

    def __init__(self, message: str, error_name: str | None = None, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.tx_hash = tx_hash


@dataclass
class FeePolicy:
    """EIP-1559 fees: tip, and a cap of ``base_fee_multiplier`` times the latest base fee."""

    priority_fee: int = DEFAULT_PRIORITY_FEE
    base_fee_multiplier: int = 2
    max_fee_cap: int | None = None


class LocalSigner:
    def __init__(self, w3: Web3, private_key: str, chain_id: int, fees: FeePolicy | None = None) -> None:
        self.w3 = w3
        self.account: LocalAccount = Account.from_key(private_key)
        self.chain_id = chain_id
        self.fees = fees or FeePolicy()
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._base_fee: tuple[float, int | None] | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    def reset_nonce(self) -> None:
        with self._lock:
            self._nonce = None

    def take_nonce(self) -> int:
        with self._lock:
            if self._nonce is None:
                self._nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
            nonce = self._nonce
            self._nonce += 1
            return nonce

    def _fee_fields(self) -> dict[str, int]:
        now = time.monotonic()
        if self._base_fee is None or now - self._base_fee[0] > 2.0:
            block = self.w3.eth.get_block("latest")
            self._base_fee = (now, block.get("baseFeePerGas"))
        base_fee = self._base_fee[1]
        if base_fee is None:  # a chain without EIP-1559
            return {"gasPrice": int(self.w3.eth.gas_price)}
        max_fee = int(base_fee) * self.fees.base_fee_multiplier + self.fees.priority_fee
        if self.fees.max_fee_cap is not None:
            max_fee = min(max_fee, self.fees.max_fee_cap)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(self.fees.priority_fee, max_fee)}

    def build(self, tx: TxParams, nonce: int | None = None) -> TxParams:
        """Fill in sender, chain id, fees and gas; simulate (raises TransactionFailed on revert)."""
        filled: dict[str, Any] = dict(tx)
        filled["from"] = self.account.address
        filled["chainId"] = self.chain_id
        filled.update(self._fee_fields())
        if "gas" not in filled:
            try:
                filled["gas"] = int(self.w3.eth.estimate_gas(filled) * GAS_BUFFER)  # type: ignore[arg-type]
            except (ContractCustomError, ContractLogicError, Web3RPCError) as exc:
                name, message = decode_revert(exc)
                raise TransactionFailed(message, error_name=name) from exc
        if nonce is not None:
            filled["nonce"] = nonce
        return filled  # type: ignore[return-value]

    def send(self, tx: TxParams) -> HexBytes:
        """Sign and broadcast; the nonce comes from our counter."""
        built = self.build(tx)
        built["nonce"] = Nonce(self.take_nonce())
        return self.send_built(built)

    def send_built(self, built: TxParams) -> HexBytes:
        signed = self.account.sign_transaction(built)  # type: ignore[arg-type]
        try:
            return HexBytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except Web3RPCError as exc:
            message = str(exc).lower()
            if "already known" in message:
                return HexBytes(signed.hash)
            if "nonce too low" in message or "nonce too high" in message:
                self.reset_nonce()
            raise

    def wait(self, tx_hash: HexBytes, timeout: float = 60.0) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.05)
        except TimeExhausted:
            raise
        if receipt["status"] != 1:
            raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} reverted", tx_hash=tx_hash.to_0x_hex())
        return receipt

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt:
        return self.wait(self.send(tx), timeout=timeout)
