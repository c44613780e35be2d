"""Ownership on a real chain (issue 11, findings 3, 9 and the recall part of 10): another brand
can neither touch a brand's case nor, by recalling its own item, make the brand's items recalled —
in SQL, on chain (``isItemRecalled``), on the verification page or in `credance verify`, which asks
the chain about recalls itself; recall scopes are public leaves anyone can rebuild the root from;
a suspended partner is revoked on chain; and the mirror follows all of it through a reorg."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from sqlmodel import Session, col, select

from backend.api.app import create_app
from backend.chain.manifest import manifest_path
from backend.db.models import Item, MirrorEventAnchor, MirrorRecall, Operation, OperationStatus, RecalledItem
from backend.provenance.epcis.anchoring import Anchorer
from backend.provenance.gtin import check_digit
from backend.provenance.merkle import MerkleTree, item_leaf
from backend.provenance.proofcheck import verify_answer
from backend.provenance.recalls import WHOLE_GTIN
from backend.provenance.verifier.item import item_of
from backend.provenance.verifier.pinning import pin_chain
from tests.provenance.support import (
    BLEND,
    FRESH,
    Api,
    at,
    commission,
    document,
    event,
    pack,
    receive,
    serving,
    sgtin,
    ship,
)
from tests.support import CREDANCE_CLI, Platform, rpc

pytestmark = pytest.mark.chain

CASE = "urn:epc:id:sscc:9506000.0000000300"  # the demo brand's case
CRATE = "urn:epc:id:sscc:4012345.0000000001"  # the outsider's crate
OUTSIDER_GTIN = "0401234500001" + str(check_digit("0401234500001"))


def outsider(api: Api) -> None:
    """Another brand with its own prefix, product and items X1, X2 (commissioned)."""
    api.organisation("outsider", ["brand", "manufacturer", "distributor", "retailer"])
    api.prefix("outsider", "4012345")
    api.product("outsider", OUTSIDER_GTIN, "Cheap copy")
    api.items("outsider", OUTSIDER_GTIN, ["X1", "X2"])
    api.accept("outsider", commission([sgtin(OUTSIDER_GTIN, "X1"), sgtin(OUTSIDER_GTIN, "X2")], at(0)))


def anchor_and_settle(platform: Platform) -> None:
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()


def verify(platform: Platform, gtin: str, serial: str, **params: Any) -> dict[str, Any]:
    response = platform.client.get(f"/01/{gtin}/21/{serial}", params={"format": "json", "scan": "false", **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def scopes(platform: Platform) -> Any:
    def fetch(recall_id: int) -> dict[str, Any]:
        response = platform.client.get(f"/v1/recalls/{recall_id}/scope")
        response.raise_for_status()
        return dict(response.json())

    return fetch


def failed(platform: Platform, answer: dict[str, Any], fetch: Any = None) -> list[str]:
    """The checks of `credance verify` that fail (the registry pinned by the manifest)."""
    pin = pin_chain(platform.ctx.w3, manifest=manifest_path(platform.settings.deployments_dir, platform.ctx.chain_id))
    asked = item_of(answer["gtin"], answer["serial"])
    return [c.what for c in verify_answer(pin, asked, answer, fetch_scope=fetch or scopes(platform)).failures]


def item(platform: Platform, gtin: str, serial: str) -> Item:
    with Session(platform.engine) as session:
        found = session.exec(select(Item).where(Item.gtin == gtin, Item.serial == serial)).one()
        session.expunge(found)
        return found


def recall(api: Api, who: str, gtin: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/recalls", json={"gtin": gtin, "reason": "Test recall", **body}, headers=api.headers(who)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_old_recall_exploit_no_longer_marks_the_brands_items(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    outsider(api)
    one, two, three = (sgtin(FRESH, f"SN000{n}") for n in (1, 2, 3))
    x1 = sgtin(OUTSIDER_GTIN, "X1")
    api.accept("demo-brand", commission([one, two, three], at(0)), pack(CASE, [one, two], at(1)))
    # The exploit's first step: pack its own item into the brand's case. Refused, as is every
    # other event on the case (damaged, destroyed), and nothing is stored.
    damaged = event("ObjectEvent", at(2), bizStep="inspecting", disposition="damaged", epcList=[CASE])
    for attack in (pack(CASE, [x1], at(2)), event("ObjectEvent", at(2), bizStep="destroying", epcList=[CASE]), damaged):
        response = api.capture("outsider", document(attack))
        assert response.status_code == 403, response.text
        assert CASE in response.json()["error"]["problems"][0]["message"]
    # Packed together legitimately (the brand authorised it as a distributor, in its own crate),
    # then it recalls its own item: the recall reaches its item alone.
    api.partner("demo-brand", "outsider", ["distributor"])
    api.accept("outsider", pack(CRATE, [x1, three], at(2)))
    assert recall(api, "outsider", OUTSIDER_GTIN, serials=["X1"])["count"] == 1
    api.accept("demo-brand", ship([CASE], at(3)), receive([CASE], at(4)))  # the brand's own life goes on
    anchor_and_settle(platform)

    with Session(platform.engine) as session:  # SQL: the scope lists its own item only
        listed = session.exec(select(Item.gtin).join(RecalledItem, col(RecalledItem.item_id) == col(Item.id))).all()
        scoped = session.exec(select(MirrorRecall).where(MirrorRecall.gtin == OUTSIDER_GTIN)).one()
        by_outsider = MirrorEventAnchor.org_id == _chain_id(api, "outsider")
        anchored = session.exec(select(MirrorEventAnchor.count).where(by_outsider)).all()
    assert listed == [OUTSIDER_GTIN]
    assert sum(anchored) == 2  # its commissioning and its crate: nothing of the refused attacks
    registry = platform.ctx.registry
    victim = item(platform, FRESH, "SN0003")
    commitment = bytes.fromhex(victim.commitment[2:])
    assert not registry.functions.isItemRecalled(
        int(FRESH), commitment, bytes.fromhex(scoped.scope_root[2:]), []
    ).call()

    answer = verify(platform, FRESH, "SN0003")  # the page and its JSON: authentic, with a notice
    assert answer["verdict"] == "authentic", answer["reason"]
    assert [(n["relation"], n["brand"]["id"]) for n in answer["recall_notices"]] == [
        ("packed with a recalled item", "outsider")
    ]
    page = platform.client.get(f"/01/{FRESH}/21/SN0003", params={"format": "html", "scan": "false"})
    assert 'data-verdict="authentic"' in page.text
    assert "Packed with a recalled item" in page.text
    assert failed(platform, answer) == []  # the verifier finds no recall of the brand on chain
    assert verify(platform, FRESH, "SN0001")["recall_notices"] == []  # in the case, never near X1
    own = verify(platform, OUTSIDER_GTIN, "X1")
    assert own["verdict"] == "recalled"
    assert failed(platform, own) == []

    # The outsider's own key commits a scope holding the brand's item leaf: the chain takes the
    # root (it is opaque) but it recalls nothing of the brand's.
    x2_item = item(platform, OUTSIDER_GTIN, "X2")
    leaves = [item_leaf(int(FRESH), commitment), item_leaf(int(OUTSIDER_GTIN), bytes.fromhex(x2_item.commitment[2:]))]
    crafted = MerkleTree.build(leaves)
    call = registry.functions.recall(int(OUTSIDER_GTIN), crafted.root, 2, b"\x01" * 32)
    signer = platform.sender.signers.get("org:outsider")
    assert signer.transact({"to": registry.address, "data": call._encode_transaction_data()})["status"] == 1  # type: ignore[typeddict-item]
    platform.settle()
    assert not registry.functions.isItemRecalled(int(FRESH), commitment, crafted.root, crafted.proof(0)).call()
    assert verify(platform, FRESH, "SN0003")["verdict"] == "authentic"
    assert failed(platform, verify(platform, FRESH, "SN0003")) == []
    # For X2 the verifier cannot get that scope's leaves (issued off the platform): it does not
    # conclude "not recalled".
    assert "recall scopes of the item's brand" in failed(platform, verify(platform, OUTSIDER_GTIN, "X2"))
    platform.assert_mirror_matches_chain()


def _chain_id(api: Api, org_id: str) -> str:
    return str(api.client.get(f"/v1/organisations/{org_id}", headers=api.headers("admin")).json()["chain_id"])


def _recall_ids(platform: Platform, gtin: str) -> list[tuple[int, str]]:
    with Session(platform.engine) as session:
        rows = session.exec(select(MirrorRecall.recall_id, MirrorRecall.scope_root).where(MirrorRecall.gtin == gtin))
        return [(int(i), str(root)) for i, root in rows.all()]


def test_recall_scopes_are_public_and_verify_asks_the_chain(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    one, two = sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")
    api.accept("demo-brand", commission([one, two], at(0)), pack(CASE, [one, two], at(1)))
    assert recall(api, "demo-brand", FRESH, serials=["SN0001"])["count"] == 2  # and SN0002, packed with it
    recall(api, "demo-brand", BLEND)
    anchor_and_settle(platform)

    [(scoped_id, root)] = _recall_ids(platform, FRESH)
    scope = platform.client.get(f"/v1/recalls/{scoped_id}/scope").json()  # no key: public
    assert (scope["recall_id"], scope["brand"], scope["scope_root"], scope["gtins"]) == (
        scoped_id,
        _chain_id(api, "demo-brand"),
        root,
        [FRESH],
    )
    leaves = [bytes.fromhex(leaf[2:]) for leaf in scope["leaves"]]
    assert "0x" + MerkleTree.build(leaves).root.hex() == root
    for serial in ("SN0001", "SN0002"):
        mine = item(platform, FRESH, serial)
        assert item_leaf(int(FRESH), bytes.fromhex(mine.commitment[2:])) in leaves
    [(whole_id, whole_root)] = _recall_ids(platform, BLEND)
    assert whole_root == WHOLE_GTIN
    assert platform.client.get(f"/v1/recalls/{whole_id}/scope").json()["leaves"] == []
    assert platform.client.get("/v1/recalls/999/scope").status_code == 404
    assert platform.client.get("/v1/recalls/0/scope").status_code == 422

    answer = verify(platform, FRESH, "SN0002")
    assert answer["verdict"] == "recalled"
    assert answer["proof"]["recall"]["recall_id"] == scoped_id
    assert failed(platform, answer) == []
    # Delete the recall from a saved answer: the chain still has it, the check fails.
    hidden = json.loads(json.dumps(answer))
    hidden.update(verdict="authentic", reason="Registered on chain by an authorised manufacturer.")
    hidden["proof"]["recall"] = None
    assert "every recall on chain is in the answer" in failed(platform, hidden)
    # A server that hides an item from the scope's leaves is caught by the root on chain.
    trimmed = scopes(platform)
    dishonest = failed(platform, hidden, lambda i: {**trimmed(i), "leaves": scope["leaves"][:1]})
    assert "recall scopes of the item's brand" in dishonest
    softened = json.loads(json.dumps(answer))  # the recall shown, the verdict softened
    softened["verdict"] = "authentic"
    assert "a recall shown makes the verdict 'recalled'" in failed(platform, softened)
    # A recall claimed for an item outside the scope: its own leaf is not there.
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0003")], at(2)))
    anchor_and_settle(platform)  # the verifier fails on an event shown but not anchored yet
    claimed = verify(platform, FRESH, "SN0003")
    claimed.update(verdict="recalled")
    claimed["proof"]["recall"] = answer["proof"]["recall"]
    assert failed(platform, claimed) == ["the item is in the recall scope"]
    whole = verify(platform, BLEND, "B1")
    assert (whole["verdict"], failed(platform, whole)) == ("recalled", [])
    # The command line asks the same server for the scopes, and the chain for everything else.
    with serving(create_app(platform.settings, platform.engine)) as site:
        manifest = manifest_path(platform.settings.deployments_dir, platform.ctx.chain_id)
        command = [
            CREDANCE_CLI,
            "verify",
            f"{site}/01/{FRESH}/21/SN0002",
            "--rpc-url",
            platform.settings.resolved_rpc_url,
            "--manifest",
            str(manifest),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stderr
    assert "recall" in result.stderr  # the recall checks ran (the table wraps long names)


def test_a_suspended_partner_is_revoked_on_chain(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    platform.settle()
    registry, brand, haulier = platform.ctx.registry, _chain_id(api, "demo-brand"), _chain_id(api, "haulier")
    assert registry.functions.partnerRoles(brand, haulier).call() == 4
    admin = api.headers("admin")
    assert api.client.patch("/v1/organisations/haulier", json={"active": False}, headers=admin).status_code == 200
    platform.settle()
    api.partner("demo-brand", "haulier", [])
    platform.settle()
    assert registry.functions.partnerRoles(brand, haulier).call() == 0
    with Session(platform.engine) as session:
        statuses = session.exec(select(Operation.status).where(Operation.kind == "set_partner_roles")).all()
    assert statuses == [OperationStatus.CONFIRMED, OperationStatus.CONFIRMED]
    partners = api.client.get("/v1/organisations/demo-brand", headers=admin).json()["partners"]
    assert partners == [{"partner_id": "haulier", "roles": [], "on_chain_roles": []}]
    platform.assert_mirror_matches_chain()


def test_ownership_events_follow_a_reorganisation(brand_goods: tuple[Platform, Api]) -> None:
    """Prefixes of non-brands, partner revocations and brand-tied recalls: rolled back with their
    blocks and replayed exactly when the sender sends them again."""
    platform, api = brand_goods
    api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    platform.settle()
    start = int(platform.ctx.w3.eth.block_number)
    api.prefix("haulier", "4012345")
    api.partner("demo-brand", "haulier", [])
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001")], at(0)))
    recall(api, "demo-brand", FRESH, serials=["SN0001"])
    anchor_and_settle(platform)
    assert platform.ctx.registry.functions.ownerOfPrefix(14012345).call().hex() == _chain_id(api, "haulier")[2:]

    depth = int(platform.ctx.w3.eth.block_number) - start
    rpc(platform.ctx.w3, "evm_increaseTime", 5)  # so the new branch's empty blocks differ in hash
    rpc(platform.ctx.w3, "anvil_reorg", depth, [])
    platform.indexer.sync()
    assert platform.reconcile().ok  # rolled back: the mirror is the new branch, exactly
    assert _recall_ids(platform, FRESH) == []
    platform.sender.recover()
    platform.assert_mirror_matches_chain()
    assert platform.ctx.registry.functions.ownerOfPrefix(14012345).call().hex() == _chain_id(api, "haulier")[2:]
    assert len(_recall_ids(platform, FRESH)) == 1
