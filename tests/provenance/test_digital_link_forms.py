"""GS1 Digital Link in every form (issue 16): HEAD, the lot (and other key qualifiers) in the
path in GS1's order, a GTIN alone (the product page), compressed links, ``?linkType=`` and the
linkset (``application/linkset+json``), and errors that name the actual problem."""

from __future__ import annotations

import pytest
from gs1 import compress_gs1_digital_link

from backend.provenance.digital_link import InvalidDigitalLink, parse_path
from tests.provenance.support import FRESH, Api, at, commission, sgtin

ITEM = f"/01/{FRESH}/21/SN0001"
LOT_GTIN = "09506000134352"  # a demo product: its items are registered in a lot below


def _lot_items(api: Api) -> None:
    api.items("demo-brand", FRESH, ["LOTTED1"], lot="L42")
    api.accept("demo-brand", commission([sgtin(FRESH, "LOTTED1")], at(0)))


def test_head_answers_the_headers_of_the_get_and_records_no_scan(api: Api) -> None:
    get = api.client.get(ITEM, params={"format": "json", "scan": "false"})
    head = api.client.head(ITEM, params={"format": "json"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) == len(get.content)
    again = api.client.get(ITEM, params={"format": "json", "scan": "false"})
    assert again.json()["item"]["scans"] == get.json()["item"]["scans"]  # the HEAD scanned nothing


def test_the_lot_in_the_path_resolves_the_item_and_must_be_its_lot(api: Api) -> None:
    _lot_items(api)
    answer = api.client.get(f"/01/{FRESH}/10/L42/21/LOTTED1", params={"format": "json", "scan": "false"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["serial"] == "LOTTED1"
    wrong = api.client.get(f"/01/{FRESH}/10/L43/21/LOTTED1", params={"format": "json"})
    assert wrong.status_code == 404
    assert wrong.json()["error"]["field"] == "lot"
    assert api.client.head(f"/01/{FRESH}/10/L42/21/LOTTED1").status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "words"),
    [
        (f"/01/{FRESH}/21/SN%2001", "serial", "contains a space at position 3"),
        (f"/01/{FRESH}/21/{'A' * 21}", "serial", "21 characters long: at most 20"),
        (f"/01/{FRESH}/21/SN0001/10/L42", "path", "out of order"),
        (f"/01/{FRESH}/17/261231", "path", "AI 17 is not a key qualifier"),
        (f"/01/{FRESH[:-1]}7", "gtin", "check digit"),
        (f"/01/{FRESH}/10/L%C3%A942", "lot", "contains 'é'"),
    ],
)
def test_a_malformed_link_is_a_400_naming_its_problem(api: Api, path: str, field: str, words: str) -> None:
    refused = api.client.get(path, params={"format": "json"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == field
    assert words in refused.json()["error"]["message"]


def test_a_gtin_alone_is_the_product_page(api: Api) -> None:
    page = api.client.get(f"/01/{FRESH}", params={"format": "json"})
    assert page.status_code == 200, page.text
    assert page.json()["name"] == "Tea caddy"
    assert page.json()["brand"]["id"] == "demo-brand"
    html = api.client.get(f"/01/{FRESH}", headers={"Accept": "text/html"})
    assert "Tea caddy" in html.text
    assert api.client.head(f"/01/{FRESH}").headers["content-length"] == str(len(page.content))
    lot = api.client.get(f"/01/{FRESH}/10/L42", params={"format": "json"})
    assert lot.json()["lot"] == "L42"
    unknown = api.client.get("/01/09506000134383", params={"format": "json"})
    assert unknown.status_code == 404


def test_a_compressed_link_answers_as_the_full_link(api: Api) -> None:
    _lot_items(api)
    full = f"https://id.gs1.org/01/{FRESH}/10/L42/21/LOTTED1"
    compressed = compress_gs1_digital_link(
        digital_link_uri=full, use_optimizations=False, compress_other_key_value_pairs=False
    ).rsplit("/", 1)[1]
    answer = api.client.get(f"/{compressed}", params={"format": "json", "scan": "false"})
    assert answer.status_code == 200, answer.text
    expected = api.client.get(full.removeprefix("https://id.gs1.org"), params={"format": "json", "scan": "false"})
    assert answer.json()["item"] == expected.json()["item"]
    assert api.client.get("/healthz").status_code == 200  # every other route still comes first
    nothing = api.client.get("/nothing-here")
    assert nothing.status_code == 404


def test_link_types_and_the_linkset(api: Api) -> None:
    linkset = api.client.get(ITEM, params={"linkType": "all"})
    assert linkset.status_code == 200
    assert linkset.headers["content-type"] == "application/linkset+json"
    [links] = linkset.json()["linkset"]
    assert links["anchor"].endswith(ITEM)
    assert "https://gs1.org/voc/pip" in links
    assert "https://gs1.org/voc/verificationService" in links
    negotiated = api.client.get(ITEM, headers={"Accept": "application/linkset+json"})
    assert negotiated.json() == linkset.json()
    pip = api.client.get(ITEM, params={"linkType": "gs1:pip"}, follow_redirects=False)
    assert pip.status_code == 307
    assert pip.headers["location"].endswith(f"/01/{FRESH}")
    verify = api.client.get(ITEM, params={"linkType": "gs1:verificationService", "format": "json", "scan": "false"})
    assert verify.json()["verdict"] in ("authentic", "unknown")
    unknown = api.client.get(ITEM, params={"linkType": "gs1:recipeInfo"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "linkType"


@pytest.mark.sqlite_only
def test_short_names_and_variants_parse_in_gs1_order() -> None:
    assert parse_path(f"/gtin/{FRESH}/lot/L1/ser/S1") == parse_path(f"/01/{FRESH}/10/L1/21/S1")
    assert parse_path(f"/01/{FRESH}/22/V1/10/L1/21/S1").cpv == "V1"
    with pytest.raises(InvalidDigitalLink, match="appears twice"):
        parse_path(f"/01/{FRESH}/10/L1/10/L2")
