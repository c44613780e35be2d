"""EPCIS 1.2 and 2.0 XML capture (issue 16): an XML document is captured as its JSON-LD form, with
the hashes GS1's reference implementation computes from the XML itself; a DTD (an entity bomb)
is refused before anything is read."""

from __future__ import annotations

import pytest
from epcis_event_hash_generator import hash_generator, xml_to_py

from backend.errors import Unprocessable
from backend.provenance.epcis.hashing import event_hash, namespaces_of
from backend.provenance.epcis.schema import validate_document
from backend.provenance.epcis.xml import document_from_xml
from backend.settings import get_settings
from tests.provenance.support import FRESH, Api, at, commission, sgtin

ONE, TWO = sgtin(FRESH, "SN0001"), sgtin(FRESH, "SN0002")

XML_2_0 = f"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:example="http://ns.example.com/epcis/"
    xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
    schemaVersion="2.0" creationDate="2026-01-05T08:00:00Z">
  <EPCISHeader>
    <sbdh:StandardBusinessDocumentHeader>
      <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
      <sbdh:Sender><sbdh:Identifier>urn:epc:id:sgln:0950600.00000.0</sbdh:Identifier></sbdh:Sender>
      <sbdh:DocumentIdentification><sbdh:InstanceIdentifier>X-42</sbdh:InstanceIdentifier></sbdh:DocumentIdentification>
    </sbdh:StandardBusinessDocumentHeader>
  </EPCISHeader>
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2026-01-05T09:00:00.000Z</eventTime>
        <eventTimeZoneOffset>+00:00</eventTimeZoneOffset>
        <epcList><epc>{ONE}</epc><epc>{TWO}</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint><id>urn:epc:id:sgln:0950600.01347.0</id></readPoint>
        <bizTransactionList>
          <bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:0950600000007:PO1</bizTransaction>
        </bizTransactionList>
        <sensorElementList><sensorElement>
          <sensorMetadata time="2026-01-05T09:00:00Z"/>
          <sensorReport type="gs1:Temperature" value="4.5" uom="CEL"/>
        </sensorElement></sensorElementList>
        <example:grade>A</example:grade>
        <example:nested><example:inner>1</example:inner></example:nested>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>"""

XML_1_2 = f"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" schemaVersion="1.2" creationDate="2026-01-05T08:00:00Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2026-01-05T10:00:00.000+01:00</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <baseExtension><eventID>urn:uuid:3b0c8f1e-0000-4000-8000-000000000012</eventID></baseExtension>
        <epcList><epc>{ONE}</epc></epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:inspecting</bizStep>
        <extension>
          <quantityList><quantityElement>
            <epcClass>urn:epc:class:lgtin:0950600.013437.L1</epcClass><quantity>2.0</quantity><uom>KGM</uom>
          </quantityElement></quantityList>
          <destinationList>
            <destination type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:0950600.01347.0</destination>
          </destinationList>
        </extension>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>"""


def _reference(xml: str) -> list[str]:
    return list(hash_generator.epcis_hashes_from_events(xml_to_py.event_list_from_epcis_document_str(xml)))


@pytest.mark.sqlite_only
@pytest.mark.parametrize("xml", [XML_2_0, XML_1_2], ids=["2.0", "1.2"])
def test_an_xml_document_is_its_json_form_with_the_reference_hashes(xml: str) -> None:
    converted = document_from_xml(xml.encode())
    assert validate_document(converted, get_settings().schema_path) == []
    prefixes = namespaces_of(converted["@context"])
    assert [event_hash(e, prefixes) for e in converted["epcisBody"]["eventList"]] == _reference(xml)


@pytest.mark.sqlite_only
def test_a_dtd_is_refused_before_anything_is_read() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>'
    with pytest.raises(Unprocessable, match="without a DTD"):
        document_from_xml(bomb)


def test_xml_is_captured_through_the_rest_binding_with_its_header(api: Api) -> None:
    api.accept("demo-brand", commission([ONE, TWO], at(0)))
    headers = {**api.headers("demo-brand"), "Content-Type": "application/xml"}
    sent = api.client.post("/epcis/capture", content=XML_2_0.encode(), headers=headers)
    assert sent.status_code == 202, sent.text
    job = api.client.get(sent.headers["location"], headers=api.headers("demo-brand")).json()
    assert job["success"] is True, job
    [shipped] = api.events(epc=ONE, biz_step="shipping")["epcisBody"]["eventList"]
    assert shipped["example:grade"] == "A"
    exported = api.events(epc=ONE, biz_step="shipping")
    assert [event_hash(shipped, namespaces_of(exported["@context"]))] == _reference(XML_2_0)
    capture = api.client.get(f"/v1/epcis/captures/{job['captureID']}", headers=api.headers("demo-brand"))
    header = capture.json()["header"]["sbdh:StandardBusinessDocumentHeader"]
    assert header["sbdh:DocumentIdentification"]["sbdh:InstanceIdentifier"] == "X-42"
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>'
    refused = api.client.post("/epcis/capture", content=bomb, headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


def test_events_export_as_xml_that_captures_back_to_the_same_hashes(api: Api) -> None:
    first = api.accept(
        "demo-brand",
        commission([ONE, TWO], at(0)),
        {
            **commission([sgtin(FRESH, "SN0003")], at(1)),
            "sensorElementList": [{"sensorReport": [{"type": "Length", "component": "latitude", "value": 50.9}]}],
            "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0950600000007:PO1"}],
        },
    )
    exported = api.client.get(
        "/epcis/events",
        params={"LT_eventTime": "2026-02-01T00:00:00Z"},
        headers={**api.headers("demo-brand"), "Accept": "application/xml"},
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/xml"
    assert _reference(exported.text) == [c["event_hash"] for c in first]
    back = document_from_xml(exported.content)
    prefixes = namespaces_of(back["@context"])
    assert [event_hash(e, prefixes) for e in back["epcisBody"]["eventList"]] == [c["event_hash"] for c in first]
