"""The verification fast path splits a plain query itself (backend/api/verification_fast.py): it
must read every query as ``parse_qsl`` does, and hand a repeated parameter to the route."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from backend.api.verification_fast import query_of

pytestmark = pytest.mark.sqlite_only

QUERIES = [
    "",
    "format=json",
    "format=html&scan=false",
    "lat=48.86&lon=2.35&format=json",
    "scan",
    "scan=&view=latest",
    "=x",
    "a=b=c",
    "a=1&&b=2&",
    "country=fr&lat=-33.9&lon=151.2",
    "q=%41%20b&format=json",
    "q=a+b",
    "caf\xe9=1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_reads_as_parse_qsl_reads_it(query: str) -> None:
    assert query_of(query.encode("latin-1")) == dict(parse_qsl(query, keep_blank_values=True))


@pytest.mark.parametrize("query", ["scan=true&scan=false", "format=json&format=json", "a=%31&a=2", "x&x"])
def test_a_repeated_parameter_goes_to_the_route(query: str) -> None:
    assert query_of(query.encode("latin-1")) is None
