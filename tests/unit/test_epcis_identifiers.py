"""GS1 identifiers: EPC URNs and Digital Links to one canonical form; bad ones explained."""

from __future__ import annotations

import pytest

from backend.provenance.epcis.identifiers import canonical_uri, identifier_problem, item_key, parse_identifier


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
        ("urn:epc:id:sgln:0614141.00777.0", "https://id.gs1.org/414/0614141007776"),
        ("urn:epc:id:pgln:4000001.98765", "https://id.gs1.org/417/4000001987658"),
        ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
        ("urn:epc:idpat:sgtin:4012345.098765.*", "https://id.gs1.org/01/04012345987652"),
        ("urn:epc:id:grai:4012345.00022.334455", "https://id.gs1.org/8003/04012345000221334455"),
        ("urn:epc:id:giai:4012345.ABC345", "https://id.gs1.org/8004/4012345ABC345"),
        ("urn:epc:id:itip:4012345.011111.01.02.987", "https://id.gs1.org/8006/040123451111180102/21/987"),
        ("https://brand.example/products/gtin/614141123452/ser/7?src=qr", "https://id.gs1.org/01/00614141123452/21/7"),
        ("https://id.gs1.org/01/09506000134352/10/LOT1/21/SN1", "https://id.gs1.org/01/09506000134352/21/SN1"),
        ("urn:example:private:thing", "urn:example:private:thing"),
    ],
)
def test_canonical_digital_links(uri: str, canonical: str) -> None:
    assert canonical_uri(uri) == canonical


def test_an_item_has_one_key_however_it_is_written() -> None:
    urn = parse_identifier("urn:epc:id:sgtin:0614141.107346.A%2FB")
    link = parse_identifier("https://id.gs1.org/01/10614141073464/21/A%2FB")
    assert urn is not None
    assert link is not None
    assert urn.is_item
    assert (urn.gtin, urn.serial) == ("10614141073464", "A/B")
    assert urn.key == link.key == item_key("10614141073464", "A/B")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://id.gs1.org/01/09506000134353/21/SN1", "check digit 3, expected 2"),
        ("https://id.gs1.org/01/950600013/21/SN1", "8, 12, 13 or 14 digits"),
        ("urn:epc:id:sgtin:0614141.10734.2017", "not a valid EPC URI"),
    ],
)
def test_bad_identifiers_are_explained(uri: str, problem: str) -> None:
    found = identifier_problem(uri)
    assert found is not None
    assert problem in found


def test_good_and_foreign_identifiers_have_no_problem() -> None:
    assert identifier_problem("https://id.gs1.org/01/09506000134352/21/SN1") is None
    assert identifier_problem("urn:example:anything") is None
