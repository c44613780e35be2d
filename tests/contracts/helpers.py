from __future__ import annotations

from typing import Any

import pytest
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from backend.chain.local_signer import LocalSigner, TransactionFailed

GAS_REPORT: dict[str, float] = {}


def send(signer: LocalSigner, call: ContractFunction, value: int = 0) -> TxReceipt:
    tx: dict[str, Any] = {"to": call.address, "data": call._encode_transaction_data()}
    if value:
        tx["value"] = value
    return signer.transact(tx)  # type: ignore[arg-type]


def reverts(signer: LocalSigner, call: ContractFunction, error: str) -> None:
    with pytest.raises(TransactionFailed) as raised:
        send(signer, call)
    assert raised.value.error_name == error, str(raised.value)


def events(contract: Any, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    return [dict(e["args"]) for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]
