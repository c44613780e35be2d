"""Scanning an item from many clients: each test client is a phone on its own network (IPv6
documentation prefix ``2001:db8:<n>::/48``), so the resolver sees distinct clients without any
header a real attacker could forge."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support import Platform

PARIS = {"lat": 48.8566, "lon": 2.3522}
TOKYO = {"lat": 35.6762, "lon": 139.6503}
NEW_YORK = {"lat": 40.7128, "lon": -74.0060}


def phone(platform: Platform, network: int, host: int = 1) -> TestClient:
    """A client at address ``host`` of network ``network`` (the same network: the same client)."""
    address = f"2001:db8:{network:x}::{host:x}"
    return TestClient(platform.client.app, client=(address, 40000), raise_server_exceptions=False)


def scan(
    client: TestClient, gtin: str, serial: str, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = client.get(f"/01/{gtin}/21/{serial}", params={"format": "json", **params}, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def signals(answer: dict[str, Any]) -> dict[str, str]:
    """Each signal the answer shows, by name: its strength."""
    return {s["signal"]: s["strength"] for s in (answer.get("scan_signals") or {}).get("signals", [])}
