"""The CBV 2.0 event hash on random events: the same event written any other legal way (key and
list order, SGTIN as URN or Digital Link on any resolver, the instant in any time zone, with or
without eventID and recordTime, bare or full CBV terms) hashes the same; any change of content
(an item more or less, another item, another instant, step or place) hashes differently."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.provenance.epcis.hashing import event_hash, hash_digest
from backend.provenance.gtin import check_digit

pytestmark = pytest.mark.fuzz
NI = re.compile(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")
STEPS = ["shipping", "receiving", "commissioning", "packing", "storing", "retail_selling"]
DISPOSITIONS = ["in_transit", "in_progress", "active", "sellable_accessible"]


@st.composite
def sgtins(draw: st.DrawFn) -> tuple[str, str, str]:
    """(company prefix, indicator + item reference, serial) of a 7-digit-prefix SGTIN."""
    prefix = draw(st.from_regex(r"[0-9]{7}", fullmatch=True))
    reference = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    serial = draw(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))
    return prefix, reference, serial


def as_urn(item: tuple[str, str, str]) -> str:
    prefix, reference, serial = item
    return f"urn:epc:id:sgtin:{prefix}.{reference}.{serial}"


def as_digital_link(item: tuple[str, str, str], host: str = "id.gs1.org") -> str:
    prefix, reference, serial = item
    body = reference[0] + prefix + reference[1:]
    return f"https://{host}/01/{body}{check_digit(body)}/21/{serial}"


instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)
offsets = st.integers(min_value=-48, max_value=56).map(lambda q: timedelta(minutes=15 * q))


def written_at(instant: datetime, offset: timedelta) -> str:
    return instant.astimezone(timezone(offset)).isoformat(timespec="milliseconds")


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(st.lists(sgtins(), min_size=1, max_size=6, unique_by=lambda i: (i[0], i[1][1:], i[2])))
    return {
        "items": items,
        "instant": draw(instants),
        "zone": draw(offsets),
        "step": draw(st.sampled_from(STEPS)),
        "disposition": draw(st.sampled_from(DISPOSITIONS)),
        "location": draw(st.from_regex(r"[0-9]{7}\.[0-9]{5}\.[0-9]{1,4}", fullmatch=True)),
    }


def render(spec: dict[str, Any], rnd: random.Random | None = None, zone: timedelta | None = None) -> dict[str, Any]:
    """The event as JSON; with ``rnd`` and ``zone``, written another legal way."""
    variant = zone is not None
    rnd = rnd or random.Random(0)
    items = list(spec["items"])
    if variant:
        rnd.shuffle(items)
    epcs = [
        as_digital_link(i, rnd.choice(["id.gs1.org", "example.com/dl"]))
        if variant and rnd.random() < 0.5
        else as_urn(i)
        for i in items
    ]
    step, disposition = spec["step"], spec["disposition"]
    if variant and rnd.random() < 0.5:
        step, disposition = f"https://ref.gs1.org/cbv/BizStep-{step}", f"https://ref.gs1.org/cbv/Disp-{disposition}"
    fields: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": written_at(spec["instant"], zone if variant else spec["zone"]),
        "eventTimeZoneOffset": written_at(spec["instant"], spec["zone"])[-6:],
        "epcList": epcs,
        "bizStep": step,
        "disposition": disposition,
        "readPoint": {"id": f"urn:epc:id:sgln:{spec['location']}"},
    }
    if variant:
        fields["eventID"] = f"urn:uuid:{rnd.getrandbits(128):032x}"
        fields["recordTime"] = "2099-01-01T00:00:00Z"
        keys = list(fields)
        rnd.shuffle(keys)
        fields = {k: fields[k] for k in keys}
    return json.loads(json.dumps(fields))


@given(events(), st.randoms(use_true_random=False), offsets)
def test_the_same_event_written_another_way_hashes_the_same(
    spec: dict[str, Any], rnd: random.Random, zone: timedelta
) -> None:
    canonical = event_hash(render(spec))
    assert NI.match(canonical)
    assert len(hash_digest(canonical)) == 32
    assert event_hash(render(spec, rnd, zone)) == canonical


@given(events(), sgtins(), st.sampled_from(["add", "drop", "swap", "time", "step", "place"]))
def test_any_change_of_content_changes_the_hash(spec: dict[str, Any], extra: tuple[str, str, str], change: str) -> None:
    changed = dict(spec)
    if change == "add":
        assume(all((extra[0], extra[1][1:], extra[2]) != (i[0], i[1][1:], i[2]) for i in spec["items"]))
        changed["items"] = [*spec["items"], extra]
    elif change == "drop":
        assume(len(spec["items"]) > 1)
        changed["items"] = spec["items"][1:]
    elif change == "swap":
        assume(all((extra[0], extra[1][1:], extra[2]) != (i[0], i[1][1:], i[2]) for i in spec["items"]))
        changed["items"] = [extra, *spec["items"][1:]]
    elif change == "time":
        changed["instant"] = spec["instant"] + timedelta(milliseconds=1)
    elif change == "step":
        changed["step"] = next(s for s in STEPS if s != spec["step"])
    else:
        changed["location"] = spec["location"] + "9"
    assert event_hash(render(changed)) != event_hash(render(spec))
