"""Helpers for provenance tests: organisations with keys, products, items, EPCIS documents."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from backend.settings import get_settings


def official_examples() -> list[Path]:
    """The official GS1 EPCIS 2.0 example documents. None found is an error, never an empty (and so
    silently skipped) parametrisation: the suite needs ``../shared/epcis`` beside the checkout."""
    folder = get_settings().epcis_dir / "examples"
    found = sorted(folder.glob("*.jsonld"))
    if not found:
        raise RuntimeError(
            f"no official EPCIS examples in {folder}: put ../shared/epcis beside the checkout "
            "(or point CREDANCE_EPCIS_DIR at it)"
        )
    return found


EXAMPLES = official_examples()
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def document(*events: dict[str, Any], prefixes: dict[str, str] | None = None) -> dict[str, Any]:
    context: list[Any] = [CONTEXT] + ([prefixes] if prefixes else [])
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def event(kind: str, when: datetime, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "eventTime": iso(when), "eventTimeZoneOffset": "+00:00"}
    if kind != "TransformationEvent":
        body["action"] = "OBSERVE"
    body.update(fields)
    return body


def commission(epcs: list[str], when: datetime) -> dict[str, Any]:
    return event("ObjectEvent", when, action="ADD", bizStep="commissioning", disposition="active", epcList=epcs)


def ship(epcs: list[str], when: datetime, **fields: Any) -> dict[str, Any]:
    return event("ObjectEvent", when, bizStep="shipping", disposition="in_transit", epcList=epcs, **fields)


def receive(epcs: list[str], when: datetime, **fields: Any) -> dict[str, Any]:
    return event("ObjectEvent", when, bizStep="receiving", disposition="in_progress", epcList=epcs, **fields)


def pack(parent: str, children: list[str], when: datetime) -> dict[str, Any]:
    return event("AggregationEvent", when, action="ADD", bizStep="packing", parentID=parent, childEPCs=children)


def unpack(parent: str, children: list[str], when: datetime) -> dict[str, Any]:
    return event("AggregationEvent", when, action="DELETE", bizStep="unpacking", parentID=parent, childEPCs=children)


def sgtin(gtin: str, serial: str) -> str:
    return f"https://id.gs1.org/01/{gtin}/21/{serial}"


T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BLEND = "09506000134369"  # the demo brand's second product
FRESH = "09506000134376"  # a demo-brand product the api fixture registers SN0001-SN0005 of, without history


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class Api:
    """The API on a fresh database, with the demo data seeded (no chain needed to capture)."""

    client: TestClient
    engine: Engine
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def organisation(self, org_id: str, roles: list[str]) -> str:
        made = self.client.post(
            "/v1/organisations",
            json={"id": org_id, "name": org_id.title(), "roles": roles},
            headers=self.headers("admin"),
        )
        assert made.status_code == 201, made.text
        key = self.client.post(
            "/v1/api-keys", json={"role": "organisation", "org_id": org_id}, headers=self.headers("admin")
        )
        assert key.status_code == 201, key.text
        self.keys[org_id] = key.json()["key"]
        return self.keys[org_id]

    def prefix(self, org_id: str, prefix: str) -> None:
        """The admin assigns a GS1 company prefix (a brand registers GTINs only under its own)."""
        assigned = self.client.post(
            f"/v1/organisations/{org_id}/prefixes", json={"prefix": prefix}, headers=self.headers("admin")
        )
        assert assigned.status_code == 201, assigned.text

    def product(self, who: str, gtin: str, name: str = "Product", **extra: Any) -> None:
        made = self.client.post("/v1/products", json={"gtin": gtin, "name": name, **extra}, headers=self.headers(who))
        assert made.status_code == 201, made.text

    def items(self, who: str, gtin: str, serials: list[str], lot: str | None = None) -> None:
        body: dict[str, Any] = {"gtin": gtin, "serials": serials}
        if lot:
            body["lot"] = lot
        made = self.client.post("/v1/items", json=body, headers=self.headers(who))
        assert made.status_code == 201, made.text

    def partner(self, brand: str, partner: str, roles: list[str]) -> None:
        granted = self.client.put(
            f"/v1/organisations/{brand}/partners",
            json={"partner_id": partner, "roles": roles},
            headers=self.headers(brand),
        )
        assert granted.status_code == 200, granted.text

    def capture(self, who: str, doc: dict[str, Any]) -> Response:
        return self.client.post("/v1/epcis/capture", json=doc, headers=self.headers(who))

    def accept(self, who: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.capture(who, document(*events))
        assert response.status_code == 201, response.text
        return list(response.json()["events"])

    def accept_document(self, doc: dict[str, Any], who: str = "demo-brand") -> list[dict[str, Any]]:
        response = self.capture(who, doc)
        assert response.status_code == 201, response.text
        return list(response.json()["events"])

    def events(self, who: str = "admin", **params: Any) -> dict[str, Any]:
        response = self.client.get("/v1/epcis/events", params=params, headers=self.headers(who))
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app served over real HTTP on a free port (for a browser, or a command line client)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():  # waiting for start-up, not measuring anything
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
