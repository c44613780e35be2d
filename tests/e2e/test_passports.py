"""Item passports end to end on a real chain: a registered item is bought, its buyer claims its
passport, resells it to a second member, the passport shows two owners and the first owner can no
longer prove ownership. Every party that tries to act for someone else is refused with a 4xx
naming the field, and nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from eth_account.messages import encode_defunct
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from backend.api.app import create_app
from backend.chain.local_signer import LocalSigner
from backend.cli.main import app
from backend.db.engine import session_scope
from backend.db.models import (
    ChainCursor,
    Customer,
    IndexedBlock,
    MirrorPassportHolder,
    Operation,
    OperationStatus,
    PassportClaim,
    PassportOwnerEvent,
)
from backend.db.types import utcnow
from backend.indexer.runner import CURSOR, rollback_above
from backend.loyalty.refs import passport_holder_ref, passport_owner_ref
from backend.provenance.epcis.hashing import event_hash
from backend.provenance.merkle import item_leaf
from backend.provenance.passport_events import PARTY_PREFIX
from backend.provenance.passport_proofs import prove_with_wallet
from backend.provenance.sales import NAMESPACE
from tests.contracts.helpers import send
from tests.e2e.loyalty_helpers import claim_typed_data, new_wallet, signed_claim
from tests.e2e.test_member_pages import HTML, post_form, sign_in
from tests.e2e.test_provenance_ownership import anchor_and_settle, item, recall
from tests.provenance.support import FRESH, Api, at, commission, serving, sgtin
from tests.security.test_console_sessions import signed_in
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain


def buy(api: Api, customer: str, order: str, serial: str) -> None:
    body = {
        "order_id": order,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": [{"sku": "CADDY", "quantity": 1, "unit_price": "10.00", "gtin": FRESH, "serial": serial}],
    }
    response = api.client.post("/v1/purchases", json=body, headers=api.headers("checkout"))
    assert response.status_code == 200, response.text


def written(platform: Platform) -> tuple[int, int]:
    with Session(platform.engine) as session:
        operations = session.exec(select(func.count()).select_from(Operation)).one()
        claims = session.exec(select(func.count()).select_from(PassportClaim)).one()
        return int(operations), int(claims)


def owner_events(api: Api, serial: str = "SN0001") -> list[dict[str, Any]]:
    """The owner changes in the item's EPCIS history, as its brand reads them."""
    found = api.events("demo-brand", epc=sgtin(FRESH, serial))["epcisBody"]["eventList"]
    return [e for e in found if "destinationList" in e]


def block_time(seconds: int) -> str:
    """An event time as the indexer writes a block's time."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def keyed_parties(changes: list[dict[str, Any]], *secrets: str) -> None:
    """Owner changes that chain (each source is the previous destination), name nobody (none of
    ``secrets``: customer ids, addresses) and whose eventID is their CBV hash."""
    for number, event in enumerate(changes, start=1):
        assert (event["action"], event["destinationList"][0]["type"]) == ("OBSERVE", "owning_party")
        assert event["credance:ownerNumber"] == number
        assert event["destinationList"][0]["destination"].startswith(PARTY_PREFIX)
        if number == 1:
            assert "sourceList" not in event  # the first owner
        else:
            assert event["sourceList"][0]["source"] == changes[number - 2]["destinationList"][0]["destination"]
        unhashed = {k: v for k, v in event.items() if k not in ("eventID", "recordTime", "@context")}
        assert event_hash(unhashed, NAMESPACE) == event["eventID"]
        text = json.dumps(event).lower()
        for secret in secrets:
            assert secret.lower() not in text, secret


def owner_changes(api: Api, held_since: list[int], *secrets: str) -> None:
    """Both owner changes are EPCIS facts of SN0001's life, at the times of their blocks: in the
    brand's queries, the REST binding and the public timeline, with owning parties that name
    nobody, and hashes that recompute."""
    epc = sgtin(FRESH, "SN0001")
    changes = owner_events(api)
    assert [e["eventTime"] for e in changes] == [block_time(t) for t in held_since]
    keyed_parties(changes, '"ann"', '"ben"', '"cat"', *secrets)
    rest = api.client.get(f"/epcis/epcs/{quote(epc, safe='')}/events", headers=api.headers("demo-brand"))
    assert rest.status_code == 200, rest.text
    assert {e["eventID"] for e in changes} <= {e["eventID"] for e in rest.json()["epcisBody"]["eventList"]}
    page = api.client.get(f"/01/{FRESH}/21/SN0001", params={"format": "json", "scan": "false"})
    timeline = page.json()["trail"]  # the public page's JSON
    passport = page.json()["passport"]  # two owners: the current one and one before
    assert (passport["owners"], passport["previous_owners"]) == (2, 1)
    html = api.client.get(f"/01/{FRESH}/21/SN0001", params={"scan": "false"}, headers={"Accept": "text/html"})
    assert 'data-owners="2"' in html.text
    assert "1 previous owner." in html.text
    shown = [step for step in timeline if "destinationList" in step.get("body", {})]
    assert len(shown) == 2, timeline


def refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text


def test_claim_resell_and_prove_ownership(brand_goods: tuple[Platform, Api], dev_keys: list[str]) -> None:
    platform, api = brand_goods
    client = api.client
    for member in ("ann", "ben", "cat"):
        enrolled = client.post("/v1/customers", json={"customer_id": member}, headers=api.headers("admin"))
        assert enrolled.status_code in (200, 201), enrolled.text
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")], at(0)))
    anchor_and_settle(platform)
    buy(api, "ann", "P-1", "SN0001")
    platform.settle()
    ann, ben = platform.as_customer("ann"), platform.as_customer("ben")
    sold = {"claim_id": "c1", "gtin": FRESH, "serial": "SN0001"}

    unclaimed = client.get(f"/01/{FRESH}/21/SN0001", params={"format": "json", "scan": "false"}).json()
    assert unclaimed.get("passport") is None
    before = written(platform)
    # Another member claims the item ann bought; a store's key and the brand's key try for ann;
    # ann's token without the passports scope; ann claims an item nobody bought.
    refused(client.post("/v1/customers/ben/passports", json=sold, headers=ben), 403, "customer_id")
    refused(client.post("/v1/customers/ann/passports", json=sold, headers=ben), 403, "customer_id")
    for key in ("checkout", "demo-brand", "admin"):
        response = client.post("/v1/customers/ann/passports", json=sold, headers=api.headers(key))
        assert response.status_code == 403, response.text
    read_only = platform.as_customer("ann", ["read"])
    assert client.post("/v1/customers/ann/passports", json=sold, headers=read_only).status_code == 403
    unsold = {**sold, "serial": "SN0002"}
    refused(client.post("/v1/customers/ann/passports", json=unsold, headers=ann), 409, "serial")
    refused(client.post("/v1/customers/ann/passports", json={**sold, "serial": "NOPE"}, headers=ann), 404, "serial")
    assert written(platform) == before

    claimed = client.post("/v1/customers/ann/passports", json=sold, headers=ann)
    assert claimed.status_code == 202, claimed.text
    token_id = claimed.json()["token_id"]
    assert "event_id" not in claimed.json()  # queued: not a fact of the item's life yet
    assert owner_events(api) == []
    bought = item(platform, FRESH, "SN0001")
    assert token_id == "0x" + item_leaf(int(FRESH), bytes.fromhex(bought.commitment[2:])).hex()  # no serial
    again = client.post("/v1/customers/ann/passports", json=sold, headers=ann)  # a retried claim: the same answer
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, claimed.json(), "true")
    other = {**sold, "claim_id": "c2"}
    refused(client.post("/v1/customers/ann/passports", json=other, headers=ann), 409, "serial")  # one, ever
    before = written(platform)
    refused(client.post("/v1/customers/ann/passports", json={**sold, "serial": "SN0002"}, headers=ann), 409, "claim_id")
    assert written(platform) == before  # the id with other content: nothing written, nothing queued
    # The line of a claimed passport is not refunded: the passport is its owner's now.
    take_back = {"refund_id": "r1", "lines": [{"sku": "CADDY", "quantity": 1}]}
    refused(
        client.post("/v1/purchases/P-1/refunds", json=take_back, headers=api.headers("checkout")), 409, "lines[0].sku"
    )
    assert client.get("/v1/customers/ann/passports", headers=ann).json()["pending"] == [token_id]
    platform.settle()

    mine = client.get("/v1/customers/ann/passports", headers=ann).json()
    assert [p["token_id"] for p in mine["passports"]] == [token_id]
    first = client.get(f"/v1/passports/{token_id}", headers=ann).json()
    assert (first["previous_owners"], first["proves_ownership"]) == (0, True)
    assert [e["eventTime"] for e in owner_events(api)] == [block_time(first["held_since"])]  # confirmed: a fact
    assert client.get(f"/v1/passports/{token_id}").json()["proves_ownership"] is None  # anonymous scan
    assert client.get(f"/v1/passports/{token_id}", headers=ben).json()["proves_ownership"] is False

    # ben tries to take it: with his own token on ann's passport, and with his token for ann.
    before = written(platform)
    transfer = f"/v1/customers/ben/passports/{token_id}/transfers"
    to_ben = {"transfer_id": "t1", "to_customer_id": "ben"}
    refused(client.post(transfer, json=to_ben, headers=ben), 403, "token_id")
    ann_transfer = f"/v1/customers/ann/passports/{token_id}/transfers"
    refused(client.post(ann_transfer, json=to_ben, headers=ben), 403, "customer_id")
    refused(client.post(ann_transfer, json={**to_ben, "to_customer_id": "ann"}, headers=ann), 422, "to_customer_id")
    assert client.post(ann_transfer, json=to_ben, headers=api.headers("admin")).status_code == 403
    assert written(platform) == before

    resold = client.post(ann_transfer, json=to_ben, headers=ann)
    assert resold.status_code == 202, resold.text
    again = client.post(ann_transfer, json=to_ben, headers=ann)  # a retried transfer: the same answer
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (202, resold.json(), "true")
    before = written(platform)
    refused(client.post(ann_transfer, json={**to_ben, "to_customer_id": "cat"}, headers=ann), 409, "transfer_id")
    refused(client.post(ann_transfer, json={**to_ben, "transfer_id": "t2"}, headers=ann), 409, "token_id")  # in flight
    assert written(platform) == before
    # The chain refuses the relay for now (an emergency pause): the resale is no fact of the item.
    assert platform.ctx.passports is not None
    pauser = LocalSigner(platform.ctx.w3, dev_keys[0], platform.ctx.chain_id)
    send(pauser, platform.ctx.passports.functions.pause())
    platform.sender.step()
    platform.indexer.sync()
    with Session(platform.engine) as session:
        relay = session.get(Operation, resold.json()["operation_id"])
        assert relay is not None
        assert relay.status == OperationStatus.PENDING  # waits for the unpause
    assert len(owner_events(api)) == 1
    send(pauser, platform.ctx.passports.functions.unpause())
    platform.settle()

    after = client.get(f"/v1/passports/{token_id}", headers=ben).json()
    assert (after["previous_owners"], after["proves_ownership"]) == (1, True)  # two owners in all
    assert after["held_since"] >= first["held_since"]
    assert client.get(f"/v1/passports/{token_id}", headers=ann).json()["proves_ownership"] is False
    assert client.get("/v1/customers/ann/passports", headers=ann).json()["passports"] == []
    assert [p["token_id"] for p in client.get("/v1/customers/ben/passports", headers=ben).json()["passports"]] == [
        token_id
    ]
    refused(client.post(ann_transfer, json={**to_ben, "transfer_id": "t3"}, headers=ann), 403, "token_id")
    members = (("ann", ann), ("ben", ben))
    addresses = [client.get(f"/v1/customers/{m}/balance", headers=h).json()["address"] for m, h in members]
    owner_changes(api, [first["held_since"], after["held_since"]], *addresses, *(a[2:] for a in addresses))
    holder = platform.ctx.passports.functions.ownerOf(int(token_id, 16)).call()
    assert holder == after["holder"]

    # The member pages: each member sees only what they hold, and gives it with the page's form.
    ann_phone, ben_phone = sign_in(platform, "ann"), sign_in(platform, "ben")
    assert token_id not in ann_phone.get("/me/passports", headers=HTML).text
    mine = ben_phone.get("/me/passports", headers=HTML)
    assert f'data-passport="{token_id}"' in mine.text
    assert "1 previous owner<" in mine.text
    before = written(platform)
    fields = {"token_id": token_id, "to_customer_id": "ann", "transfer_id": "web-1"}
    stolen = post_form(ann_phone, "/me/passports/transfer", "/me/passports", **fields)
    assert stolen.status_code == 403, stolen.text  # ann no longer holds it
    assert written(platform) == before
    no_csrf = ben_phone.post("/me/passports/transfer", data={**fields, "csrf_token": "forged"}, headers=HTML)
    assert no_csrf.status_code == 403
    assert written(platform) == before
    given = post_form(ben_phone, "/me/passports/transfer", "/me/passports", **{**fields, "to_customer_id": "cat"})
    assert given.status_code == 200, given.text
    assert f'data-passport-given="{token_id}"' in given.text
    platform.settle()
    assert client.get(f"/v1/passports/{token_id}").json()["previous_owners"] == 2
    traced = signed_in(api, "demo-brand").get("/console/trace", params={"epc": sgtin(FRESH, "SN0001")}, headers=HTML)
    assert traced.status_code == 200, traced.text
    assert 'data-testid="passport" data-owners="3"' in traced.text  # the brand's console: three owners
    platform.assert_mirror_matches_chain()
    # Every log applied again (reconcile's replay, kept): each owner change is still one event.
    recorded = [e["eventID"] for e in owner_events(api)]
    assert len(recorded) == 3
    assert platform.reconcile(repair=True).ok
    assert [e["eventID"] for e in owner_events(api)] == recorded


def prove(client: Any, token_id: str, signer: Any, nonce_for: str | None = None) -> tuple[dict[str, Any], str]:
    """Ask a challenge (for ``nonce_for``'s passport, by default this one), sign it with ``signer``
    and send the proof to ``token_id``'s route: its answer, and the body sent (to replay)."""
    asked = client.post(f"/v1/passports/{nonce_for or token_id}/challenges")
    assert asked.status_code == 201, asked.text
    challenge = asked.json()
    signed = signer.sign_message(encode_defunct(text=challenge["message"]))
    body = {"nonce": challenge["nonce"], "signature": "0x" + bytes(signed.signature).hex()}
    answer = client.post(f"/v1/passports/{token_id}/proofs", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()), body


def test_wallet_holder_proves_with_a_signature_and_metadata_hides_the_serial(
    brand_goods: tuple[Platform, Api],
) -> None:
    platform, api = brand_goods
    client = api.client
    for member in ("cat", "dan"):
        enrolled = client.post("/v1/customers", json={"customer_id": member}, headers=api.headers("admin"))
        assert enrolled.status_code in (200, 201), enrolled.text
    wallet = new_wallet()
    cat = platform.as_customer("cat")
    linked = client.post(
        "/v1/customers/cat/wallet",
        json=signed_claim(claim_typed_data(platform, "cat", wallet.address, cat), wallet),
        headers=cat,
    )
    assert linked.status_code == 202, linked.text
    api.accept("demo-brand", commission([sgtin(FRESH, f"SN000{n}") for n in (3, 4, 5)], at(0)))
    anchor_and_settle(platform)
    buy(api, "cat", "P-3", "SN0003")
    buy(api, "cat", "P-5", "SN0005")
    buy(api, "dan", "P-4", "SN0004")
    platform.settle()

    # dan's sale was refunded: no passport for it.
    refund = {"refund_id": "r1", "lines": [{"sku": "CADDY", "quantity": 1}]}
    assert client.post("/v1/purchases/P-4/refunds", json=refund, headers=api.headers("checkout")).status_code == 200
    dan_claim = {"claim_id": "d1", "gtin": FRESH, "serial": "SN0004"}
    refused(
        client.post("/v1/customers/dan/passports", json=dan_claim, headers=platform.as_customer("dan")), 409, "serial"
    )

    claimed = client.post(
        "/v1/customers/cat/passports", json={"claim_id": "w0", "gtin": FRESH, "serial": "SN0003"}, headers=cat
    )
    assert claimed.status_code == 202, claimed.text
    token_id = claimed.json()["token_id"]
    with serving(create_app(platform.settings, platform.engine)) as url:  # the CLI, with the member's token
        cli, own = CliRunner(), ["--url", url, "--token", cat["Authorization"].removeprefix("Bearer ")]
        by_cli = [
            cli.invoke(app, ["passports", "claim", "cat", FRESH, "SN0005", "--claim-id", "w1", *own]) for _ in "12"
        ]
        assert [r.exit_code for r in by_cli] == [0, 0], by_cli[0].output
        assert json.loads(by_cli[0].stdout) == json.loads(by_cli[1].stdout)  # run again: the first answer
        other_token = json.loads(by_cli[0].stdout)["token_id"]
        dan_cli = ["--url", url, "--token", platform.customer_token("dan")]
        refund_refused = cli.invoke(app, ["passports", "claim", "dan", FRESH, "SN0004", *dan_cli])
        assert refund_refused.exit_code == 2
        assert "serial" in refund_refused.output
        platform.settle()
        listed = cli.invoke(app, ["passports", "list", "cat", *own])
        assert listed.exit_code == 0, listed.output
        assert {p["token_id"] for p in json.loads(listed.stdout)["passports"]} == {token_id, other_token}
        in_wallet = cli.invoke(app, ["passports", "transfer", "cat", other_token, "dan", *own])
        assert in_wallet.exit_code == 2  # in her own wallet: it moves with the wallet
        assert "token_id" in in_wallet.output
    assert client.get(f"/v1/passports/{token_id}").json()["holder"] == wallet.address  # in her own wallet

    proof, sent = prove(client, token_id, wallet)
    assert proof == {"token_id": token_id, "proves_ownership": True, "reason": None}
    replayed = client.post(f"/v1/passports/{token_id}/proofs", json=sent).json()  # a signature seen once
    assert replayed["proves_ownership"] is False
    assert "used" in replayed["reason"]
    page = client.get(f"/01/{FRESH}/21/SN0003", params={"format": "json", "scan": "false"}).json()
    assert "ownership_disputed" not in [s["signal"] for s in page["scan_signals"]["signals"]]
    stranger, _ = prove(client, token_id, new_wallet())  # another wallet signs: a second item's "owner"?
    assert stranger["proves_ownership"] is False
    page = client.get(f"/01/{FRESH}/21/SN0003", params={"format": "json", "scan": "false"}).json()
    disputed = [s for s in page["scan_signals"]["signals"] if s["signal"] == "ownership_disputed"]
    assert [s["strength"] for s in disputed] == ["soft"]  # a clone signal, which a free wallet cannot make hard
    assert page["verdict"] == "authentic"
    foreign, _ = prove(client, other_token, wallet, nonce_for=token_id)  # a challenge for another item
    assert foreign["proves_ownership"] is False
    assert "another passport" in foreign["reason"]
    asked = client.post(f"/v1/passports/{token_id}/challenges").json()  # signed too late
    with Session(platform.engine) as session:
        signed = wallet.sign_message(encode_defunct(text=asked["message"]))
        late = prove_with_wallet(
            session, token_id, asked["nonce"], "0x" + bytes(signed.signature).hex(), utcnow() + timedelta(hours=1)
        )
        assert (late.proves_ownership, late.reason) == (False, "challenge expired: ask for a new one")
    bad = {"nonce": "0" * 32, "signature": "0x" + "ab" * 65}
    assert client.post(f"/v1/passports/{token_id}/proofs", json=bad).json()["proves_ownership"] is False

    # The tokenURI resolves on the app to metadata without serial or holder.
    assert platform.ctx.passports is not None
    uri = platform.ctx.passports.functions.tokenURI(int(token_id, 16)).call()
    metadata = client.get(urlparse(uri).path)
    assert metadata.status_code == 200, metadata.text
    document = metadata.json()
    assert document["external_url"].endswith(f"/01/{FRESH}")
    assert "Tea caddy" in document["name"]
    for secret in ("SN0003", wallet.address, wallet.address.lower()[2:]):
        assert secret not in metadata.text

    # cat sells it from her wallet (an ERC-721 transfer she signs): her signature proves nothing now.
    buyer = new_wallet()
    w3 = platform.ctx.w3
    w3.provider.make_request("anvil_setBalance", [wallet.address, hex(10**18)])  # type: ignore[arg-type]
    call = platform.ctx.passports.functions.transferFrom(wallet.address, buyer.address, int(token_id, 16))
    tx = call.build_transaction({"from": wallet.address, "nonce": w3.eth.get_transaction_count(wallet.address)})
    sent_tx = w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(sent_tx)["status"] == 1
    platform.settle()
    after = client.get(f"/v1/passports/{token_id}").json()
    assert (after["holder"], after["previous_owners"]) == (buyer.address, 1)
    assert prove(client, token_id, wallet)[0]["proves_ownership"] is False  # the former owner
    assert prove(client, token_id, buyer)[0]["proves_ownership"] is True
    # The wallet's own transfer is a fact of the item: cat (her wallet) to a wallet no member claims.
    with Session(platform.engine) as session:
        members = {c.external_id: c.id for c in session.exec(select(Customer)).all()}
    sold_on = owner_events(api, "SN0003")
    assert [e["eventTime"] for e in sold_on][-1] == block_time(after["held_since"])
    assert [e["destinationList"][0]["destination"] for e in sold_on] == [
        PARTY_PREFIX + passport_owner_ref(token_id, members["cat"]),
        PARTY_PREFIX + passport_holder_ref(token_id, buyer.address),
    ]
    dan = platform.as_customer("dan")
    dan_address = client.get("/v1/customers/dan/balance", headers=dan).json()["address"]
    addresses = (wallet.address, buyer.address, dan_address)
    keyed_parties(sold_on, '"cat"', '"dan"', *addresses, *(a[2:] for a in addresses))

    # The buyer's wallet sends it to dan's custodial address: dan holds it, but the chain does not
    # hold it in custody (a wallet's transfer clears the flag), so the platform refuses to relay it.
    w3.provider.make_request("anvil_setBalance", [buyer.address, hex(10**18)])  # type: ignore[arg-type]
    call = platform.ctx.passports.functions.transferFrom(buyer.address, dan_address, int(token_id, 16))
    tx = call.build_transaction({"from": buyer.address, "nonce": w3.eth.get_transaction_count(buyer.address)})
    sent_tx = w3.eth.send_raw_transaction(buyer.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(sent_tx)["status"] == 1
    platform.settle()
    assert client.get(f"/v1/passports/{token_id}", headers=dan).json()["proves_ownership"] is True
    before = written(platform)
    to_cat = {"transfer_id": "dan-1", "to_customer_id": "cat"}
    refused(client.post(f"/v1/customers/dan/passports/{token_id}/transfers", json=to_cat, headers=dan), 409, "token_id")
    assert written(platform) == before  # nothing queued: the chain would refuse it
    last = owner_events(api, "SN0003")[-1]
    assert last["destinationList"][0]["destination"] == PARTY_PREFIX + passport_owner_ref(token_id, members["dan"])
    keyed_parties(owner_events(api, "SN0003"), *addresses, *(a[2:] for a in addresses))
    platform.assert_mirror_matches_chain()  # the mirror's custody flag is the contract's (not custodial)
    with session_scope(platform.engine) as session:  # a mirror that believed it in custody is caught
        last_change = session.exec(
            select(MirrorPassportHolder)
            .where(MirrorPassportHolder.token_id == token_id)
            .order_by(col(MirrorPassportHolder.block_number).desc(), col(MirrorPassportHolder.log_index).desc())
        ).first()
        assert last_change is not None
        assert last_change.custodial is False
        last_change.custodial = True
        session.add(last_change)
    caught = {(d.check, d.key) for d in platform.reconcile().differences}
    assert ("custodial", token_id) in caught  # against the contract (and the rebuilt mirror row differs)
    with session_scope(platform.engine) as session:
        last_change = session.merge(last_change)
        last_change.custodial = False

    # A recall of the product shows on its passports.
    assert client.get(f"/v1/passports/{other_token}").json()["recalled"] is False
    recall(api, "demo-brand", FRESH)
    assert client.get(f"/v1/passports/{other_token}").json()["recalled"] is True
    platform.assert_mirror_matches_chain()


def test_a_reorg_takes_a_claim_back_then_the_sender_issues_it_again(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    client = api.client
    enrolled = client.post("/v1/customers", json={"customer_id": "eve"}, headers=api.headers("admin"))
    assert enrolled.status_code in (200, 201), enrolled.text
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001")], at(0)))
    anchor_and_settle(platform)
    buy(api, "eve", "P-9", "SN0001")
    platform.settle()
    eve = platform.as_customer("eve")
    claim = {"claim_id": "e1", "gtin": FRESH, "serial": "SN0001"}
    claimed = client.post("/v1/customers/eve/passports", json=claim, headers=eve)
    assert claimed.status_code == 202, claimed.text
    token_id = claimed.json()["token_id"]
    platform.settle()
    with Session(platform.engine) as session:
        issue = session.get(Operation, claimed.json()["operation_id"])
        assert issue is not None
        mined_at = issue.confirmed_block
    assert mined_at is not None
    assert client.get(f"/v1/passports/{token_id}").status_code == 200
    [claim_event] = [e["eventID"] for e in owner_events(api)]

    # The mirror rolled back below the issue and replayed on the same chain: the same event again.
    with session_scope(platform.engine) as session:
        ancestor = session.exec(select(func.max(IndexedBlock.number)).where(IndexedBlock.number < mined_at)).one()
        assert ancestor is not None
        rollback_above(session, ancestor)
        assert session.exec(select(func.count()).select_from(PassportOwnerEvent)).one() == 0
        cursor = session.get(ChainCursor, CURSOR)
        kept = session.get(IndexedBlock, ancestor)
        assert cursor is not None
        assert kept is not None
        cursor.block_number, cursor.block_hash = ancestor, kept.hash
        session.add(cursor)
    assert owner_events(api) == []
    platform.indexer.sync()
    assert [e["eventID"] for e in owner_events(api)] == [claim_event]

    w3 = platform.ctx.w3
    rpc(w3, "anvil_reorg", int(w3.eth.block_number) - mined_at + 1, [])  # a branch without the issue
    platform.indexer.sync()
    refused(client.get(f"/v1/passports/{token_id}"), 404, "token_id")  # gone from the mirror
    assert owner_events(api) == []  # and from the item's history
    assert client.get("/v1/customers/eve/passports", headers=eve).json()["pending"] == [token_id]
    assert platform.reconcile().ok

    platform.sender.recover()  # the outbox sends it again (its operation id: never twice)
    platform.assert_mirror_matches_chain()
    assert client.get(f"/v1/passports/{token_id}", headers=eve).json()["proves_ownership"] is True
    held_since = client.get(f"/v1/passports/{token_id}").json()["held_since"]
    assert [e["eventTime"] for e in owner_events(api)] == [block_time(held_since)]  # the new block's time
