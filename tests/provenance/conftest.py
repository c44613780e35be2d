from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.cli.seed import seed_demo
from backend.settings import Settings
from tests.provenance.support import FRESH, Api


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Api:
    """The API over a fresh, seeded database; enough for capture and query (no chain)."""
    keys = seed_demo(engine, settings, 31337)
    client = TestClient(create_app(settings, engine), raise_server_exceptions=False)
    api = Api(client, engine, {"admin": keys.admin, "checkout": keys.checkout, "demo-brand": keys.brand})
    # Items of their own, with no history yet (the demo items come with one).
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, [f"SN000{n}" for n in range(1, 6)])
    return api
