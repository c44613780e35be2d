"""Who may write about what (issue 11, findings 3, 4 and 9), through the API on a real database:
every identifier an event names has an owner (its GTIN's brand, the holder of its GS1 company
prefix, or the organisation that used it first), GTINs are registered only under the brand's own
prefix, and a partner whose roles were revoked reads nothing more of the owner's."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from backend.db.models import EpcisEventRecord, Item, Product
from backend.provenance.epcis.identifiers import parse_identifier
from backend.provenance.gtin import check_digit
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, receive, sgtin, ship

ONE, TWO = sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")
CASE = "urn:epc:id:sscc:9506000.0000000200"  # under the demo brand's prefix 9506000
OUTSIDER_GTIN = "0401234500001" + str(check_digit("0401234500001"))  # under prefix 4012345


def stored(api: Api, org_id: str | None = None) -> int:
    query = select(func.count()).select_from(EpcisEventRecord)
    if org_id is not None:
        query = query.where(EpcisEventRecord.org_id == org_id)
    with Session(api.engine) as session:
        return int(session.exec(query).one())


def refused(api: Api, who: str, body: dict[str, Any], naming: str) -> dict[str, str]:
    """The document is refused with 403, naming the event and the identifier; nothing is stored."""
    before = stored(api)
    response = api.capture(who, document(body))
    assert response.status_code == 403, response.text
    problem = response.json()["error"]["problems"][0]
    assert (problem["field"], problem["rule"]) == ("epcisBody.eventList[0]", "unauthorised_writer"), problem
    assert naming in problem["message"], problem["message"]
    assert stored(api) == before
    return dict(problem)


def event_ids(document_: dict[str, Any]) -> set[str]:
    return {e["eventID"] for e in document_["epcisBody"]["eventList"]}


def outsider(api: Api) -> str:
    """Another brand, with its own prefix, product and a commissioned item of its own."""
    api.organisation("outsider", ["brand", "manufacturer", "distributor", "retailer"])
    api.prefix("outsider", "4012345")
    api.product("outsider", OUTSIDER_GTIN)
    api.items("outsider", OUTSIDER_GTIN, ["X1"])
    api.accept("outsider", commission([sgtin(OUTSIDER_GTIN, "X1")], at(0)))
    return sgtin(OUTSIDER_GTIN, "X1")


def test_another_organisation_cannot_act_on_the_brands_case(api: Api) -> None:
    own_item = outsider(api)
    api.accept("demo-brand", commission([ONE, TWO], at(0)), pack(CASE, [ONE, TWO], at(1)), ship([CASE], at(2)))
    case_link = parse_identifier(CASE).canonical  # type: ignore[union-attr]  # the same case as a Digital Link
    attacks = [
        event("ObjectEvent", at(3), bizStep="inspecting", disposition="damaged", epcList=[CASE]),
        event("ObjectEvent", at(3), bizStep="destroying", disposition="destroyed", epcList=[case_link]),
        pack(CASE, [own_item], at(3)),
        receive([CASE], at(3)),
        ship([case_link], at(3)),
        event("ObjectEvent", at(3), action="DELETE", bizStep="decommissioning", epcList=[CASE]),
        event(
            "TransactionEvent",
            at(3),
            bizStep="holding",
            parentID=CASE,
            epcList=[own_item],
            bizTransactionList=[{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"}],
        ),
    ]
    for body in attacks:
        problem = refused(api, "outsider", body, "'demo-brand'")
        assert "company prefix 9506000" in problem["message"]
        assert CASE in problem["message"] or case_link in problem["message"]
    assert stored(api, "outsider") == 1  # its own commissioning only
    # The brand's real receipt still works, and the items follow it.
    api.accept("demo-brand", receive([CASE], at(4)))
    with Session(api.engine) as session:
        items = select(Item.status).where(Item.gtin == FRESH, col(Item.serial).in_(["SN0001", "SN0002"]))
        assert set(session.exec(items).all()) == {"received"}


def test_each_event_needs_the_role_its_kind_calls_for(api: Api) -> None:
    """A distributor authorised by the brand ships and receives its case and flags it damaged, but
    neither destroys nor decommissions it (that takes a manufacturer) nor sells its items."""
    api.organisation("haulier", ["distributor", "retailer"])
    api.partner("demo-brand", "haulier", ["distributor"])
    api.accept("demo-brand", commission([ONE], at(0)), pack(CASE, [ONE], at(1)))
    api.accept(
        "haulier",
        ship([CASE], at(2)),
        receive([CASE], at(3)),
        event("ObjectEvent", at(4), bizStep="inspecting", disposition="damaged", epcList=[CASE]),
    )
    refused(api, "haulier", event("ObjectEvent", at(5), bizStep="destroying", epcList=[CASE]), CASE)
    refused(api, "haulier", event("ObjectEvent", at(5), action="DELETE", epcList=[CASE]), CASE)
    refused(api, "haulier", event("ObjectEvent", at(5), bizStep="retail_selling", epcList=[ONE]), FRESH)


def test_an_identifier_under_no_prefix_belongs_to_whoever_used_it_first(api: Api) -> None:
    pallet = "urn:epc:id:sscc:0614999.0000000001"  # nobody holds prefix 0614999 (yet)
    haulier = api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    api.accept("demo-brand", commission([ONE], at(0)))
    api.accept("haulier", pack(pallet, [ONE], at(1)))  # the haulier packs the brand's item into its pallet
    problem = refused(api, "demo-brand", ship([pallet], at(2)), pallet)
    assert "'haulier', which recorded it first" in problem["message"]
    api.accept("haulier", ship([pallet], at(2)))
    # GS1 licenses the prefix to a logistics company: the prefix beats the first use.
    logistics = api.organisation("logistics", ["distributor"])
    api.prefix("logistics", "0614999")
    assert "company prefix 0614999" in refused(api, "haulier", receive([pallet], at(3)), pallet)["message"]
    # Any owner authorises partners for what it owns, brand or not; only the owner itself may.
    foreign = api.client.put(
        "/v1/organisations/logistics/partners",
        json={"partner_id": "haulier", "roles": ["distributor"]},
        headers={"Authorization": f"Bearer {haulier}"},
    )
    assert foreign.status_code == 403
    granted = api.client.put(
        "/v1/organisations/logistics/partners",
        json={"partner_id": "haulier", "roles": ["distributor"]},
        headers={"Authorization": f"Bearer {logistics}"},
    )
    assert granted.status_code == 200, granted.text
    api.accept("haulier", receive([pallet], at(3)))


def test_a_logistics_company_owns_the_ssccs_of_its_prefix(api: Api) -> None:
    api.organisation("haulier", ["distributor"])
    api.organisation("shop", ["retailer"])
    api.prefix("haulier", "4012345")  # no brand, but the holder of a prefix
    pallet = "urn:epc:id:sscc:4012345.0000000007"
    api.partner("demo-brand", "haulier", ["distributor"])
    api.partner("demo-brand", "shop", ["retailer"])
    api.accept("demo-brand", commission([ONE, TWO], at(0)))
    api.accept("haulier", pack(pallet, [ONE, TWO], at(1)), ship([pallet], at(2)))
    # The shop works for the brand, not for the haulier: the haulier's pallet is not its to receive.
    refused(api, "shop", receive([pallet], at(3)), "'haulier'")
    api.partner("haulier", "shop", ["retailer"])
    api.accept("shop", receive([pallet], at(3)))
    # The brand itself is no partner of the haulier either.
    refused(api, "demo-brand", event("ObjectEvent", at(4), bizStep="inspecting", epcList=[pallet]), pallet)


def test_gtins_are_registered_only_under_the_brands_own_prefix(api: Api) -> None:
    rival = api.organisation("rival", ["brand"])
    headers = {"Authorization": f"Bearer {rival}"}

    def register(gtin: str, who: dict[str, str] = headers) -> Any:
        return api.client.post("/v1/products", json={"gtin": gtin, "name": "Squat"}, headers=who)

    unassigned = register(OUTSIDER_GTIN)  # nobody holds 4012345 yet: no squatting either
    assert unassigned.status_code == 403
    assert unassigned.json()["error"]["field"] == "gtin"
    assert "no GS1 company prefix assigned to 'rival'" in unassigned.json()["error"]["message"]
    theirs = register("09506000134383")
    assert theirs.status_code == 403
    assert "9506000" in theirs.json()["error"]["message"]
    # A prefix may go to an organisation that is no brand; it still registers no GTIN.
    haulier = api.organisation("haulier", ["distributor"])
    api.prefix("haulier", "4012345")
    assert register(OUTSIDER_GTIN, {"Authorization": f"Bearer {haulier}"}).status_code == 403
    assert "assigned to 'haulier'" in register(OUTSIDER_GTIN).json()["error"]["message"]
    with Session(api.engine) as session:
        assert session.get(Product, OUTSIDER_GTIN) is None
    # A GTIN registered before prefixes were required (an old database) is never handed over
    # silently: assigning its prefix to another organisation is refused, naming it.
    with Session(api.engine) as session:
        session.add(Product(gtin="00614141123452", brand_id="rival", name="Legacy"))
        session.commit()
    admin = api.headers("admin")
    blocked = api.client.post("/v1/organisations/demo-brand/prefixes", json={"prefix": "0614141"}, headers=admin)
    assert blocked.status_code == 409
    assert "00614141123452 ('rival')" in blocked.json()["error"]["message"]
    api.prefix("rival", "0614141")


def test_a_revoked_or_suspended_partner_reads_nothing_more(api: Api) -> None:
    api.organisation("haulier", ["distributor"])
    api.partner("demo-brand", "haulier", ["distributor"])
    brand_events = {e["event_id"] for e in api.accept("demo-brand", commission([ONE], at(0)), pack(CASE, [ONE], at(1)))}
    own = {e["event_id"] for e in api.accept("haulier", ship([CASE], at(2)))}
    assert event_ids(api.events("haulier")) >= brand_events | own
    assert event_ids(api.events("haulier", epc=ONE, trace="both")) == brand_events | own

    api.partner("demo-brand", "haulier", [])
    assert event_ids(api.events("haulier")) == own  # what it wrote itself, nothing of the brand's
    assert event_ids(api.events("haulier", epc=ONE, trace="both")) == own
    assert event_ids(api.events("haulier", gtin=FRESH)) == set()  # its own event names the case only

    api.partner("demo-brand", "haulier", ["distributor"])
    assert event_ids(api.events("haulier")) >= brand_events
    admin = api.headers("admin")
    assert api.client.patch("/v1/organisations/haulier", json={"active": False}, headers=admin).status_code == 200
    assert event_ids(api.events("haulier")) == own
    # A suspended partner can still be revoked (as on chain), but not granted anything.
    grant = api.client.put(
        "/v1/organisations/demo-brand/partners",
        json={"partner_id": "haulier", "roles": ["retailer"]},
        headers=api.headers("demo-brand"),
    )
    assert grant.status_code == 409
    assert grant.json()["error"]["field"] == "partner_id"
    api.partner("demo-brand", "haulier", [])
    # Suspended, it writes nothing at all, not even about identifiers nobody owns yet.
    before = stored(api)
    response = api.capture("haulier", document(commission(["urn:example:crate:1"], at(3))))
    assert response.status_code == 403
    assert stored(api) == before
