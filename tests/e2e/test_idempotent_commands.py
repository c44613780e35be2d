"""Every idempotent command through the API: sent again, the first answer (marked
``Idempotent-Replayed: true``); its id sent again with other content, a 409 naming the id's field
that writes nothing (no row, no operation for the chain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Operation, PartnerConversion, PointTransfer, Purchase, Redemption, Refund
from tests.e2e.loyalty_helpers import add_reward, buy, enable_transfers, line, order
from tests.support import Platform

pytestmark = pytest.mark.chain


@dataclass(frozen=True)
class Command:
    name: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    other: dict[str, Any]  # the same id, other content
    field: str
    table: type


def count(platform: Platform, model: type) -> int:
    with Session(platform.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_each_command_replays_its_answer_and_refuses_its_id_with_other_content(platform: Platform) -> None:
    buy(platform, order("IDEM-0", "ida", line("A", 1, "400.00")))
    platform.client.post("/v1/customers", json={"customer_id": "jon"}, headers=platform.headers())
    add_reward(platform, "mug", 50)
    admin = platform.headers("admin")
    partner = {"id": "air-miles", "name": "Air Miles", "rate": "0.5"}
    assert platform.client.post("/v1/partners", json=partner, headers=admin).status_code == 201
    enable_transfers(platform)  # settles: ida's points are confirmed

    purchase = order("IDEM-1", "ida", line("A", 2, "10.00"))
    transfer = {"transfer_id": "t1", "to_customer_id": "jon", "amount": 5}
    conversion = {"conversion_id": "AM-1", "customer_id": "ida", "partner_points": 20}
    commands = [
        Command(
            "purchase",
            "/v1/purchases",
            platform.headers(),
            purchase,
            {**purchase, "lines": [line("A", 3, "10.00")]},
            "order_id",
            Purchase,
        ),
        Command(
            "refund",
            "/v1/purchases/IDEM-0/refunds",
            platform.headers(),
            {"refund_id": "r1", "amount": "100.00"},
            {"refund_id": "r1", "amount": "50.00"},
            "refund_id",
            Refund,
        ),
        Command(
            "redemption",
            "/v1/customers/ida/redemptions",
            platform.as_customer("ida"),
            {"redemption_id": "m1", "reward_id": "mug"},
            {"redemption_id": "m1", "reward_id": "mug", "quantity": 2},
            "redemption_id",
            Redemption,
        ),
        Command(
            "transfer",
            "/v1/customers/ida/transfers",
            platform.as_customer("ida"),
            transfer,
            {**transfer, "amount": 6},
            "transfer_id",
            PointTransfer,
        ),
        Command(
            "conversion",
            "/v1/partners/air-miles/conversions",
            admin | {"X-Customer-Token": platform.customer_token("ida")},
            conversion,
            {**conversion, "partner_points": 40},
            "conversion_id",
            PartnerConversion,
        ),
    ]
    for command in commands:
        first = platform.client.post(command.url, json=command.body, headers=command.headers)
        assert first.status_code == 200, (command.name, first.text)
        assert "Idempotent-Replayed" not in first.headers, command.name
        written = (count(platform, command.table), count(platform, Operation))

        again = platform.client.post(command.url, json=command.body, headers=command.headers)
        assert (again.status_code, again.json()) == (200, first.json()), command.name
        assert again.headers["Idempotent-Replayed"] == "true", command.name

        reused = platform.client.post(command.url, json=command.other, headers=command.headers)
        assert reused.status_code == 409, (command.name, reused.text)
        assert reused.json()["error"]["field"] == command.field, command.name
        assert (count(platform, command.table), count(platform, Operation)) == written, command.name
    platform.assert_mirror_matches_chain()
