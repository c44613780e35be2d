"""No personal data reaches the chain or the logs. Customers are enrolled with a name, an e-mail
and a phone number, buy things, and every transaction's calldata and every log on Anvil (and
everything logged meanwhile) is searched for those strings in any common encoding."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from eth_utils import keccak
from sqlmodel import Session, select
from web3 import Web3

from backend.chain.local_signer import LocalSigner
from backend.db.models import Customer, CustomerProfile, MirrorAccount
from backend.observability import configure_logging
from tests.support import Platform

pytestmark = pytest.mark.chain

CUSTOMERS = [
    {
        "customer_id": "member-7731",
        "name": "Zoë Quillfeather",
        "email": "zoe.quillfeather@example.org",
        "phone": "+44 20 7946 0958",
    },
    {
        "customer_id": "member-7732",
        "name": "Bartholomew Okonkwo-Lindqvist",
        "email": "bart.ol@example.net",
        "phone": "+1 (555) 010-7788",
    },
]


def encodings(value: str) -> set[bytes]:
    """How a value could appear in calldata or logs: raw, in other cases, as hex text, hashed."""
    forms = {value, value.lower(), value.upper(), "".join(c for c in value if c.isalnum())}
    found: set[bytes] = set()
    for form in forms:
        raw = form.encode()
        found |= {raw, raw.hex().encode(), form.encode("utf-16-le"), keccak(raw), hashlib.sha256(raw).digest()}
    return {f for f in found if len(f) >= 4}


def chain_bytes(w3: Web3, first_block: int) -> Iterator[tuple[str, bytes]]:
    """Every transaction's calldata and every log's topics and data since ``first_block``."""
    for number in range(first_block, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            yield f"tx {tx['hash'].hex()} input", bytes(tx["input"])
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            for entry in receipt["logs"]:
                yield f"log {entry['logIndex']} of {tx['hash'].hex()}", b"".join(entry["topics"]) + bytes(entry["data"])


@pytest.fixture
def log_buffer(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer, cache=False)
    caplog.set_level(logging.DEBUG)
    yield buffer
    structlog.reset_defaults()


@pytest.mark.sqlite_only  # what reaches the chain and the logs does not depend on the database
def test_personal_data_stays_off_chain_and_out_of_logs(
    platform: Platform, log_buffer: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    first_block = 0
    client, checkout = platform.client, platform.headers()
    for n, customer in enumerate(CUSTOMERS):
        assert client.post("/v1/customers", json=customer, headers=checkout).status_code == 200
        for k in range(3):
            line = {"sku": "COFFEE", "quantity": k + 1, "unit_price": "9.99"}
            order = {
                "order_id": f"P-{n}-{k}",
                "customer_id": customer["customer_id"],
                "store_id": "demo-store",
                "currency": "USD",
                "lines": [line],
            }
            assert client.post("/v1/purchases", json=order, headers=checkout).status_code == 200
    # The rest of a member's life touches the chain too: a refund, a transfer, a redemption.
    first, second = CUSTOMERS[0]["customer_id"], CUSTOMERS[1]["customer_id"]
    admin = platform.headers("admin")
    assert client.put("/v1/transfer-policy", json={"enabled": True, "daily_cap": 0}, headers=admin).status_code == 202
    assert (
        client.post("/v1/rewards", json={"id": "mug", "name": "Mug", "points_price": 2}, headers=admin).status_code
        == 201
    )
    platform.settle()
    refund = {"refund_id": "PR-1", "lines": [{"sku": "COFFEE", "quantity": 1}]}
    assert client.post("/v1/purchases/P-0-2/refunds", json=refund, headers=checkout).status_code == 200
    # Spending is the members' own doing: each acts with their customer token.
    transfer = {"transfer_id": "PT-1", "to_customer_id": second, "amount": 3}
    assert client.post(
        f"/v1/customers/{first}/transfers", json=transfer, headers=platform.as_customer(first)
    ).status_code in (200, 202)
    redemption = {"redemption_id": "PD-1", "reward_id": "mug"}
    assert client.post(
        f"/v1/customers/{second}/redemptions", json=redemption, headers=platform.as_customer(second)
    ).status_code in (200, 201, 202)
    platform.settle()
    for customer in CUSTOMERS:
        balance = client.get(f"/v1/customers/{customer['customer_id']}/balance", headers=checkout).json()
        assert balance["balance"] > 0  # the points did reach the chain
    kinds = {
        e["kind"]
        for c in CUSTOMERS
        for e in client.get(f"/v1/customers/{c['customer_id']}/history", headers=admin).json()["entries"]
    }
    assert {"award", "reversal", "redemption"} <= kinds, kinds

    needles = {
        (field, form)
        for c in CUSTOMERS
        for field in ("name", "email", "phone", "customer_id")
        for form in encodings(c[field])
    }
    scanned = 0
    for where, data in chain_bytes(platform.ctx.w3, first_block):
        scanned += 1
        for field, form in needles:
            assert form not in data, f"{field} found in {where}"
    assert scanned > 10

    # httpx records are the test client's own requests, not the service's logs.
    records = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    output = (log_buffer.getvalue() + "\n".join(records)).encode()
    assert b"sender.sent" in output  # the services did log
    for customer in CUSTOMERS:
        for field in ("name", "email", "phone"):
            for form in encodings(customer[field]):
                assert form not in output, f"{field} of {customer['customer_id']} in the logs"


@pytest.mark.sqlite_only
def test_the_scanner_finds_planted_data(platform: Platform, dev_keys: list[str]) -> None:
    """Positive control: personal data sent to the chain on purpose is found, in calldata."""
    signer = LocalSigner(platform.ctx.w3, dev_keys[3], 31337)
    email = CUSTOMERS[0]["email"]
    start = platform.ctx.w3.eth.block_number + 1
    signer.transact({"to": signer.address, "data": b"\x00" * 7 + keccak(email.encode()) + b"\x01"})  # type: ignore[typeddict-item]
    hits = [where for where, data in chain_bytes(platform.ctx.w3, start) if any(f in data for f in encodings(email))]
    assert len(hits) == 1


def _database_bytes(platform: Platform) -> bytes:
    database = Path(platform.settings.resolved_database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(database.parent.glob(database.name + "*")))


def test_erasure_removes_personal_data_and_keeps_the_ledger(platform: Platform) -> None:
    """DELETE …/personal-data: the name, e-mail and phone are gone (from the database file too);
    the pseudonymous address, balance, history and mirror stay and still match the chain."""
    client, checkout, admin = platform.client, platform.headers(), platform.headers("admin")
    for customer in CUSTOMERS:
        assert client.post("/v1/customers", json=customer, headers=checkout).status_code == 200
        for k in range(2):
            order = {
                "order_id": f"E-{customer['customer_id']}-{k}",
                "customer_id": customer["customer_id"],
                "store_id": "demo-store",
                "currency": "USD",
                "lines": [{"sku": "TEA", "quantity": 2, "unit_price": "7.50"}],
            }
            assert client.post("/v1/purchases", json=order, headers=checkout).status_code == 200
    erased, kept = CUSTOMERS[0]["customer_id"], CUSTOMERS[1]["customer_id"]
    refund = {"refund_id": "E-R1", "lines": [{"sku": "TEA", "quantity": 1}]}
    assert client.post(f"/v1/purchases/E-{erased}-0/refunds", json=refund, headers=checkout).status_code == 200
    platform.settle()
    before = {
        c: (
            client.get(f"/v1/customers/{c}/balance", headers=checkout).json(),
            client.get(f"/v1/customers/{c}/history", headers=admin).json(),
        )
        for c in (erased, kept)
    }

    response = client.delete(f"/v1/customers/{erased}/personal-data", headers=admin)
    assert response.status_code == 200, response.text
    assert client.delete(f"/v1/customers/{erased}/personal-data", headers=admin).status_code == 200  # idempotent
    assert client.delete(f"/v1/customers/{erased}/personal-data", headers=checkout).status_code == 403
    profile = client.get(f"/v1/customers/{erased}", headers=admin).json()
    assert (profile["name"], profile["email"], profile["phone"]) == (None, None, None)
    assert (bool(profile["erased_at"]), profile["personal_data"]) == (True, "erased")
    assert client.get(f"/v1/customers/{kept}", headers=admin).json()["email"] == CUSTOMERS[1]["email"]
    assert client.get(f"/v1/customers/{kept}", headers=checkout).status_code == 403  # a till reads no PII

    # The ledger is untouched and the member goes on earning under the same pseudonym.
    for c in (erased, kept):
        balance = client.get(f"/v1/customers/{c}/balance", headers=checkout).json()
        history = client.get(f"/v1/customers/{c}/history", headers=admin).json()
        assert (balance, history) == before[c]
    order = {
        "order_id": "E-after",
        "customer_id": erased,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "TEA", "quantity": 1, "unit_price": "5.00"}],
    }
    assert client.post("/v1/purchases", json=order, headers=checkout).status_code == 200
    platform.settle()
    balance = client.get(f"/v1/customers/{erased}/balance", headers=checkout).json()
    assert balance["address"] == before[erased][0]["address"]
    assert balance["balance"] == before[erased][0]["balance"] + 5
    with Session(platform.engine) as session:
        mirrored = session.get(MirrorAccount, balance["address"])
    assert mirrored is not None
    assert mirrored.balance == platform.ctx.points.functions.balanceOf(balance["address"]).call() == balance["balance"]

    with Session(platform.engine) as session:
        assert (
            session.get(CustomerProfile, session.exec(select(Customer.id).where(Customer.external_id == erased)).one())
            is None
        )
    if platform.engine.dialect.name != "sqlite":
        return  # PostgreSQL frees the bytes at its next VACUUM (see backend/privacy.py)
    # Erased means erased: not left behind in free pages or the write-ahead log of the database.
    raw = _database_bytes(platform)
    for field in ("name", "email", "phone"):
        assert CUSTOMERS[0][field].encode() not in raw, f"the erased {field} is still in the database file"
    assert CUSTOMERS[1]["email"].encode() in raw  # positive control: the kept member's data is found
