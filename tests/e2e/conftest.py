"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import served
from tests.provenance.support import BLEND, FRESH, Api
from tests.support import Platform


@pytest.fixture
def brand_goods(platform: Platform) -> tuple[Platform, Api]:
    """The demo brand's catalogue: FRESH with items SN0001-SN0005 and BLEND with B1 and B2 (no history)."""
    api = Api(
        platform.client,
        platform.engine,
        {"admin": platform.keys["admin"], "checkout": platform.keys["checkout"], "demo-brand": platform.keys["brand"]},
    )
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, [f"SN000{n}" for n in range(1, 6)])
    api.items("demo-brand", BLEND, ["B1", "B2"])
    return platform, api


@pytest.fixture
def site(platform: Platform) -> Iterator[str]:
    """The API served over HTTP on a free port (for the browser tests)."""
    yield from served(platform)
