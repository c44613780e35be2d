"""Finding 6: a purchase was linkable to the customer's address. ``orderRef`` was an unkeyed hash
of the store and order id, copied into the ``retail_selling`` event the brand reads; with it the
brand (or anyone who knows a receipt number) found the award on chain, the customer's address and
their whole ledger. Now every reference that leaves the platform is an HMAC with a server secret,
keyed per audience: nothing a brand sees, nothing computed from a receipt, matches a value on chain."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from eth_utils import keccak
from sqlmodel import Session, select
from web3 import Web3

from backend.db.models import Operation
from tests.provenance.support import sgtin
from tests.support import Platform

pytestmark = pytest.mark.chain
DEMO = "09506000134352"  # a demo product whose demo items were made, shipped and received
HEX32 = re.compile(r"0x[0-9a-fA-F]{64}|[0-9a-fA-F]{64}")


def chain_words(platform: Platform) -> set[bytes]:
    """Every 32-byte word any log of the points contract carries (topics and data), from deployment
    on: where a customer's address, awards and whole ledger are."""
    points = Web3.to_checksum_address(platform.ctx.points.address)
    logs = platform.ctx.w3.eth.get_logs(
        {"fromBlock": platform.ctx.manifest.start_block, "toBlock": "latest", "address": points}
    )
    words: set[bytes] = set()
    for log in logs:
        words.update(bytes(topic) for topic in log["topics"])
        data = bytes(log["data"])
        words.update(data[i : i + 32] for i in range(0, len(data), 32))
    return words


def receipt_guesses(store: str, order: str) -> set[bytes]:
    """What someone holding the receipt could compute: the old derivation and its neighbours."""
    texts = [
        f"credance:order:{store}:{order}",
        f"{store}:{order}",
        order,
        f"credance:sale:{store}:{order}",
        f"credance:order:{store}:{order}:{DEMO}:SN0001",
    ]
    return {keccak(text=t) for t in texts} | {hashlib.sha256(t.encode()).digest() for t in texts}


def hex_values(value: Any) -> set[bytes]:
    """Every 32-byte hex value anywhere in a JSON answer (references, hashes, roots)."""
    return {bytes.fromhex(m.removeprefix("0x")) for m in HEX32.findall(str(value))}


def test_a_receipt_and_the_brands_view_of_the_sale_never_find_the_customer(platform: Platform) -> None:
    line = {"sku": "TEA", "quantity": 1, "unit_price": "20.00", "gtin": DEMO, "serial": "SN0001"}
    order = {"order_id": "R-1", "customer_id": "robin", "store_id": "demo-store", "currency": "USD", "lines": [line]}
    bought = platform.client.post("/v1/purchases", json=order, headers=platform.headers())
    assert bought.status_code == 200, bought.text
    platform.settle()
    address = platform.client.get("/v1/customers/robin/balance", headers=platform.headers()).json()["address"]

    # The brand's view of its item's sale.
    query = {"epc": sgtin(DEMO, "SN0001"), "biz_step": "retail_selling"}
    answer = platform.client.get("/v1/epcis/events", params=query, headers=platform.headers("brand"))
    assert answer.status_code == 200, answer.text
    (sale,) = answer.json()["epcisBody"]["eventList"]
    assert any(key.endswith("saleRef") for key in sale), sale
    public = platform.client.get(f"/01/{DEMO}/21/SN0001", params={"format": "json", "scan": "false"}).json()
    brand_sees = hex_values(answer.json()) | hex_values(public)  # and what anyone scanning the item sees
    assert address.lower().removeprefix("0x") not in (str(answer.json()) + str(public)).lower()

    on_chain = chain_words(platform)
    # The search works: the award is on chain, with its (keyed) orderRef next to the customer's address.
    with Session(platform.engine) as session:
        award = session.exec(select(Operation).where(Operation.kind == "award", Operation.account == address)).one()
    assert bytes.fromhex(award.ref.removeprefix("0x")) in on_chain
    assert bytes(12) + bytes.fromhex(address.removeprefix("0x")) in on_chain
    # …and nothing the brand sees or the receipt gives leads to it.
    assert not (brand_sees | receipt_guesses("demo-store", "R-1")) & on_chain
