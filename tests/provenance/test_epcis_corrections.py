"""Error declarations, contexts and document headers (issue 16, defects 1, 6 and 7).

1. An event is declared erroneous by capturing it again with an errorDeclaration: it is kept,
   linked to its corrective events, shown as erroneous in queries and on the verification page,
   and no longer counts in the business rules, so its corrective events apply. Only its writer may
   declare it, once.
6. Every exported event re-hashes to its stored hash, even when two captures use one prefix for
   different namespaces; a context redefining a protected term of the standard context is refused.
7. The standard business document header and typed term definitions of a context are kept.
"""

from __future__ import annotations

import copy
from typing import Any

from backend.provenance.epcis.hashing import event_hash, namespaces_of
from backend.provenance.epcis.schema import validate_document
from backend.settings import get_settings
from tests.provenance.support import FRESH, Api, at, commission, document, sgtin, ship

ONE, TWO = sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")
URL = f"/01/{FRESH}/21/SN0001"
WRONG_PLACE = {"id": "urn:epc:id:sgln:0950600.01347.0"}
RIGHT_PLACE = {"id": "urn:epc:id:sgln:0950600.01347.1"}


def _declared(body: dict[str, Any], *corrective: str, reason: str = "incorrect_data") -> dict[str, Any]:
    declared = copy.deepcopy(body)
    declared["errorDeclaration"] = {
        "declarationTime": "2026-01-06T00:00:00Z",
        "reason": reason,
        "correctiveEventIDs": list(corrective),
    }
    return declared


def _until_february(api: Api, who: str = "admin", **params: Any) -> list[dict[str, Any]]:
    doc = api.events(who, until="2026-02-01T00:00:00Z", **params)
    assert validate_document(doc, get_settings().schema_path) == []
    return list(doc["epcisBody"]["eventList"])


def test_an_error_declaration_is_kept_and_its_corrective_event_applies(api: Api) -> None:
    wrong = {**commission([ONE], at(0)), "eventID": "urn:uuid:00000000-0000-4000-8000-000000000001"}
    wrong["bizLocation"] = WRONG_PLACE
    [stored] = api.accept("demo-brand", wrong)
    fix = {**commission([ONE], at(0)), "eventID": "urn:uuid:00000000-0000-4000-8000-000000000002"}
    fix["bizLocation"] = RIGHT_PLACE

    captured = api.accept("demo-brand", _declared(wrong, fix["eventID"]), fix)

    assert captured[0] == {**stored, "erroneous": True}  # the stored event, declared erroneous
    assert captured[1]["erroneous"] is False
    events = {e["eventID"]: e for e in _until_february(api, epc=ONE)}
    assert events[stored["event_id"]]["errorDeclaration"]["correctiveEventIDs"] == [fix["eventID"]]
    assert "errorDeclaration" not in events[fix["eventID"]]
    # The erroneous commissioning no longer counts: ONE was commissioned once, and ships.
    api.accept("demo-brand", ship([ONE], at(1)))
    trail = api.client.get(URL, params={"format": "json", "scan": "false"}).json()["trail"]
    assert [(s["event"], s["erroneous"]) for s in trail] == [
        ("commissioning", {"declaration_time": "2026-01-06T00:00:00Z", "reason": "incorrect_data"}),
        ("commissioning", None),
        ("shipping", None),
    ]
    page = api.client.get(URL, params={"scan": "false"}, headers={"Accept": "text/html"})
    assert "Declared erroneous by its writer (incorrect data)" in page.text


def test_declaring_an_event_erroneous_undoes_what_it_did(api: Api) -> None:
    wrong = commission([ONE], at(0))
    api.accept("demo-brand", wrong, ship([ONE], at(1)))
    shipped_twice = api.capture("demo-brand", document(ship([ONE], at(2))))
    assert shipped_twice.json()["error"]["code"] == "already_shipped"
    # The shipment did not happen: declared erroneous, ONE may be shipped again.
    api.accept("demo-brand", _declared(ship([ONE], at(1)), reason="did_not_occur"))
    api.accept("demo-brand", ship([ONE], at(2)))


def test_only_the_writer_declares_its_event_erroneous_and_only_once(api: Api) -> None:
    body = commission([ONE], at(0))
    [stored] = api.accept("demo-brand", body)
    api.organisation("carrier", ["distributor", "manufacturer"])
    api.partner("demo-brand", "carrier", ["distributor", "manufacturer"])

    refused = api.capture("carrier", document(_declared(body)))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["field"] == "epcisBody.eventList[0].errorDeclaration"
    [kept] = [e for e in _until_february(api, epc=ONE) if e["eventID"] == stored["event_id"]]
    assert "errorDeclaration" not in kept

    api.accept("demo-brand", _declared(body))
    again = api.capture("demo-brand", document(_declared(body, reason="did_not_occur")))
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_declared"


def test_a_declaration_of_an_event_never_captured_is_kept_and_counts_for_nothing(api: Api) -> None:
    api.accept("demo-brand", commission([ONE], at(0)))
    [declared] = api.accept("demo-brand", _declared(ship([ONE], at(1)), reason="did_not_occur"))
    assert declared["erroneous"] is True
    api.accept("demo-brand", ship([ONE], at(2)))  # the declared shipment never counted


def _rehashes(doc: dict[str, Any]) -> list[str]:
    """Each exported event's hash, from the export alone (its own @context over the document's)."""
    prefixes = namespaces_of(doc["@context"])
    return [event_hash(e, {**prefixes, **namespaces_of(e.get("@context"))}) for e in doc["epcisBody"]["eventList"]]


def test_two_captures_with_one_prefix_for_two_namespaces_export_each_with_its_meaning(api: Api) -> None:
    first = api.capture(
        "demo-brand",
        document(
            {**commission([ONE], at(0)), "example:batch": "example:A1"},
            prefixes={"example": "https://a.example.com/"},
        ),
    )
    second = api.capture(
        "demo-brand",
        document(
            {**commission([TWO], at(0)), "example:batch": "example:A1"},
            prefixes={"example": "https://b.example.com/"},
        ),
    )
    assert first.status_code == second.status_code == 201, second.text
    stored = [first.json()["events"][0]["event_hash"], second.json()["events"][0]["event_hash"]]
    exported = api.events(gtin=FRESH, until="2026-02-01T00:00:00Z")
    assert validate_document(exported, get_settings().schema_path) == []
    assert _rehashes(exported) == stored
    assert {"example": "https://a.example.com/"} in exported["@context"]
    assert {"example2": "https://b.example.com/"} in exported["@context"]
    assert exported["epcisBody"]["eventList"][1]["example2:batch"] == "example2:A1"
    # Captured again into another repository, the export gives the same events.
    assert event_hash(exported["epcisBody"]["eventList"][1], namespaces_of(exported["@context"])) == stored[1]


def test_a_context_that_redefines_a_protected_term_is_refused(api: Api) -> None:
    refused = api.capture("demo-brand", document(commission([ONE], at(0)), prefixes={"cbvmda": "https://evil/"}))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "protected_term"
    assert refused.json()["error"]["field"] == "@context"
    assert _until_february(api, epc=ONE) == []
    # Repeating the standard definition is no redefinition.
    api.accept("demo-brand", commission([ONE], at(0)))
    same = document(commission([TWO], at(0)), prefixes={"cbvmda": "urn:epcglobal:cbv:mda:"})
    assert api.capture("demo-brand", same).status_code == 201


def test_typed_term_definitions_and_the_business_document_header_are_kept(api: Api) -> None:
    typed = {"@id": "https://a.example.com/temperature", "@type": "xsd:decimal"}
    doc = document(
        {**commission([ONE], at(0)), "example:temperature": 4.5},
        prefixes={"example": "https://a.example.com/", "example:temperature": typed},  # type: ignore[dict-item]
    )
    header = {
        "sbdh:StandardBusinessDocumentHeader": {
            "sbdh:HeaderVersion": "1.0",
            "sbdh:Sender": {"sbdh:Identifier": "urn:epc:id:sgln:0950600.00000.0"},
            "sbdh:Receiver": {"sbdh:Identifier": "urn:epc:id:sgln:0614141.00000.0"},
            "sbdh:DocumentIdentification": {
                "sbdh:Standard": "EPCglobal",
                "sbdh:TypeVersion": "2.0",
                "sbdh:InstanceIdentifier": "1234567890",
                "sbdh:Type": "Events",
                "sbdh:CreationDateAndTime": "2026-01-05T08:00:00Z",
            },
        }
    }
    doc["epcisHeader"] = header
    doc["@context"][1]["sbdh"] = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
    response = api.capture("demo-brand", doc)
    assert response.status_code == 201, response.text
    exported = api.events(epc=ONE, until="2026-02-01T00:00:00Z")
    assert {"example:temperature": typed} in exported["@context"]
    assert _rehashes(exported) == [response.json()["events"][0]["event_hash"]]

    job = api.client.get(f"/v1/epcis/captures/{response.json()['capture_id']}", headers=api.headers("demo-brand"))
    assert job.status_code == 200, job.text
    assert job.json()["header"] == header
    assert job.json()["status"] == "accepted"
    # Another organisation does not learn that the capture exists.
    api.organisation("stranger", ["distributor"])
    hidden = api.client.get(f"/v1/epcis/captures/{response.json()['capture_id']}", headers=api.headers("stranger"))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["field"] == "capture_id"
