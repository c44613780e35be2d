"""Finding 5: brands minted points. A brand set ``genuine_bonus_points`` (up to a million per
item) on its products and the loyalty program paid it, with no program approval. Now a genuine
product bonus is a rule of the program's published rule set (its hash on chain), per GTIN, GS1
company prefix or brand, under a program cap per item and per order; a brand cannot set one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Operation, Product, RuleSetRecord
from backend.provenance.epcis.anchoring import Anchorer
from tests.provenance.support import FRESH, Api, at, commission, sgtin
from tests.support import Platform

pytestmark = pytest.mark.chain
SERIALS = [f"SN000{n}" for n in range(1, 6)]
BONUS_RULES = {
    "genuine_bonuses": {
        "max_points_per_item": 45,
        "max_points_per_order": 100,
        "rules": [
            {"id": "caddy", "points": 50, "gtins": [FRESH]},  # above the item cap: refused as written
        ],
    }
}


def counts(platform: Platform) -> tuple[int, int, int]:
    with Session(platform.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Product)).one(),
            session.exec(select(func.count()).select_from(Operation)).one(),
            session.exec(select(func.count()).select_from(RuleSetRecord)).one(),
        )


@pytest.fixture
def api(platform: Platform) -> Api:
    api = Api(
        platform.client,
        platform.engine,
        {"admin": platform.keys["admin"], "checkout": platform.keys["checkout"], "demo-brand": platform.keys["brand"]},
    )
    api.product("demo-brand", FRESH, "Tea caddy")
    api.items("demo-brand", FRESH, SERIALS)
    api.accept("demo-brand", commission([sgtin(FRESH, s) for s in SERIALS], at(0)))
    Anchorer(platform.engine, batch_size=256, max_delay_ms=0).step(force=True)
    platform.settle()
    return api


def buy(api: Api, order: str, *serials: str) -> dict[str, Any]:
    lines = [{"sku": "CADDY", "quantity": 1, "unit_price": "10.00", "gtin": FRESH, "serial": s} for s in serials]
    body = {"order_id": order, "customer_id": "bo", "store_id": "demo-store", "currency": "USD", "lines": lines}
    bought = api.client.post("/v1/purchases", json=body, headers=api.headers("checkout"))
    assert bought.status_code == 200, bought.text
    receipt = api.client.get(f"/v1/purchases/{order}", headers=api.headers("checkout"))
    return dict(receipt.json())


def test_a_brand_cannot_set_a_bonus(platform: Platform) -> None:
    brand = platform.headers("brand")
    before = counts(platform)
    product = {"gtin": FRESH, "name": "Tea caddy", "genuine_bonus_points": 1_000_000}
    refused = platform.client.post("/v1/products", json=product, headers=brand)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "genuine_bonus_points"
    rules = platform.client.post("/v1/rule-sets", json={**BONUS_RULES}, headers=brand)
    assert rules.status_code == 403
    assert counts(platform) == before  # no product, no operation, no rule set


def test_no_bonus_unless_the_programs_rules_say_so_and_the_caps_hold(platform: Platform, api: Api) -> None:
    # The brand's own GTIN, items registered and made by the brand: genuine, but no rule pays them.
    plain = buy(api, "B-1", "SN0001")
    assert plain["points_awarded"] == 10
    assert plain["explanation"]["bonuses"] == []

    admin = api.headers("admin")
    too_much = api.client.post("/v1/rule-sets", json=BONUS_RULES, headers=admin)
    assert too_much.status_code == 422
    assert "max_points_per_item" in too_much.json()["error"]["message"]
    rules = {
        "genuine_bonuses": {
            **BONUS_RULES["genuine_bonuses"],
            "rules": [
                {"id": "caddy", "points": 45, "gtins": [FRESH]},
                {"id": "demo-brand", "points": 5, "brands": ["demo-brand"]},
            ],
        }
    }
    published = api.client.post("/v1/rule-sets", json=rules, headers=admin)
    assert published.status_code == 201, published.text
    platform.settle()
    assert published.json()["content"]["genuine_bonuses"]["max_points_per_order"] == 100

    # Three genuine items: 45 + 45, then the order cap leaves 10; the already-sold one earns nothing.
    capped = buy(api, "B-2", "SN0002", "SN0003", "SN0004", "SN0001")
    bonuses = capped["explanation"]["bonuses"]
    assert [(b["source"], b["points"], b["rule"]) for b in bonuses] == [
        ("genuine_item", 45, "caddy"),
        ("genuine_item", 45, "caddy"),
        ("genuine_item", 10, "caddy"),
    ]
    assert "capped" in bonuses[2]["detail"]
    assert f"{FRESH}/SN0004" in bonuses[2]["detail"]
    assert capped["explanation"]["rule_version"] == published.json()["version"]
    assert capped["points_awarded"] == 40 + 100
    platform.assert_mirror_matches_chain()
