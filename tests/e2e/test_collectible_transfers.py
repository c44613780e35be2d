"""A custodial member gives a collectible copy to another member, end to end on a real chain: the
platform relays only copies it holds in custody, with the giver's own token; the mirror then shows
the receiver holding it, and a campaign for the edition's holders follows the copy. Another
member's token, a copy in a member's own wallet, more copies than held, a transfer in flight and a
reused id are refused with a 4xx naming the field, and nothing is written. A member who takes a
wallet later brings their copies held in custody into it the same way."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import CollectibleTransfer, Operation
from tests.e2e.loyalty_helpers import buy, claim_typed_data, line, new_wallet, order, permit, publish, signed_claim
from tests.support import Platform

pytestmark = pytest.mark.chain

EDITION = 51


def written(platform: Platform) -> tuple[int, ...]:
    with Session(platform.engine) as session:
        return tuple(
            int(session.exec(select(func.count()).select_from(model)).one())
            for model in (Operation, CollectibleTransfer)
        )


def refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text


def copies(platform: Platform, member: str) -> list[tuple[int, int, int]]:
    """(edition, copies, of which in custody) the member holds, as the API answers."""
    held = platform.client.get(f"/v1/customers/{member}/collectibles", headers=platform.headers("admin"))
    assert held.status_code == 200, held.text
    return [(h["edition"], h["copies"], h["in_custody"]) for h in held.json()["collectibles"]]


def address_of(platform: Platform, member: str) -> str:
    answer = platform.client.get(f"/v1/customers/{member}/balance", headers=platform.headers())
    return str(answer.json()["address"])


def test_a_custodial_member_gives_a_copy_and_the_holders_multiplier_follows_it(platform: Platform) -> None:
    client, admin = platform.client, platform.headers("admin")
    reward = {"id": "lounge-pass", "name": "Lounge", "points_price": 100, "collectible": {"edition": EDITION, "cap": 5}}
    assert client.post("/v1/rewards", json=reward, headers=admin).status_code == 201
    for member, number in (("ana", "CT-1"), ("ben", "CT-2"), ("cal", "CT-3")):
        buy(platform, order(number, member, line("A", 1, "500.00")))
    platform.settle()
    # cal takes her own wallet first: her copy is minted there, out of the platform's reach
    wallet, cal = new_wallet(), platform.as_customer("cal")
    claim = signed_claim(claim_typed_data(platform, "cal", wallet.address, cal), wallet)
    assert client.post("/v1/customers/cal/wallet", json=claim, headers=cal).status_code == 202
    platform.settle()
    redeem = {"redemption_id": "lp-1", "reward_id": "lounge-pass"}
    redeemed = client.post("/v1/customers/ana/redemptions", json=redeem, headers=platform.as_customer("ana"))
    assert redeemed.status_code == 200, redeemed.text
    with_permit = {**redeem, "permit": permit(platform, wallet, 100)}
    assert client.post("/v1/customers/cal/redemptions", json=with_permit, headers=cal).status_code == 200
    platform.settle()
    assert (copies(platform, "ana"), copies(platform, "cal")) == ([(EDITION, 1, 1)], [(EDITION, 1, 0)])
    assert platform.ctx.collectibles is not None
    custody = platform.ctx.collectibles.functions.custodialBalanceOf
    assert (custody(address_of(platform, "ana"), EDITION).call(), custody(wallet.address, EDITION).call()) == (1, 0)

    url = f"/v1/customers/ana/collectibles/{EDITION}/transfers"
    give = {"transfer_id": "g-1", "to_customer_id": "ben"}
    ana = platform.as_customer("ana", ["collectibles"])
    before = written(platform)
    refused(client.post(url, json=give, headers=platform.as_customer("ben", ["collectibles"])), 403, "customer_id")
    assert client.post(url, json=give, headers=platform.as_customer("ana", ["read"])).status_code == 403
    cal_gives = f"/v1/customers/cal/collectibles/{EDITION}/transfers"
    cal_token = platform.as_customer("cal", ["collectibles"])
    refused(client.post(cal_gives, json={**give, "to_customer_id": "ana"}, headers=cal_token), 409, "edition")
    ben_gives = f"/v1/customers/ben/collectibles/{EDITION}/transfers"
    ben = platform.as_customer("ben", ["collectibles"])
    refused(client.post(ben_gives, json={**give, "to_customer_id": "ana"}, headers=ben), 409, "edition")
    refused(client.post("/v1/customers/ana/collectibles/99/transfers", json=give, headers=ana), 404, "edition")
    refused(client.post(url, json={**give, "amount": 2}, headers=ana), 409, "amount")
    refused(client.post(url, json={**give, "to_customer_id": "ana"}, headers=ana), 422, "to_customer_id")
    refused(client.post(url, json={**give, "to_customer_id": "nobody"}, headers=ana), 404, "to_customer_id")
    assert written(platform) == before  # nothing recorded, nothing queued for the chain

    first = client.post(url, json=give, headers=ana)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending"
    after = written(platform)
    again = client.post(url, json=give, headers=ana)
    assert (again.status_code, again.json()) == (202, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    refused(client.post(url, json={**give, "to_customer_id": "cal"}, headers=ana), 409, "transfer_id")
    refused(client.post(url, json={"transfer_id": "g-2", "to_customer_id": "cal"}, headers=ana), 409, "edition")
    assert written(platform) == after
    platform.settle()

    assert (copies(platform, "ana"), copies(platform, "ben")) == ([], [(EDITION, 1, 1)])
    ben_address = address_of(platform, "ben")
    assert (custody(address_of(platform, "ana"), EDITION).call(), custody(ben_address, EDITION).call()) == (0, 1)
    refused(client.post(url, json={"transfer_id": "g-3", "to_customer_id": "ben"}, headers=ana), 409, "edition")

    # The campaign for the edition's holders: ben earns double now, ana no longer does.
    window = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z"}
    holders = {"id": "lounge-holders", "multiplier": "2", "holds_edition": EDITION, **window}
    publish(platform, {"points_per_unit": "1", "campaigns": [holders]})
    ana_order = buy(platform, order("CT-4", "ana", line("A", 1, "100.00")))
    ben_order = buy(platform, order("CT-5", "ben", line("A", 1, "100.00")))
    assert (ana_order["points_awarded"], ben_order["points_awarded"]) == (100, 200)

    # ben takes a wallet of his own and brings the copy into it: out of custody for good.
    platform.settle()  # a wallet is claimed with nothing of the member's in flight
    ben_wallet, ben_all = new_wallet(), platform.as_customer("ben")
    claim = signed_claim(claim_typed_data(platform, "ben", ben_wallet.address, ben_all), ben_wallet)
    assert client.post("/v1/customers/ben/wallet", json=claim, headers=ben_all).status_code == 202
    platform.settle()
    home = client.post(ben_gives, json={"transfer_id": "b-1", "to_customer_id": "ben"}, headers=ben)
    assert home.status_code == 202, home.text
    platform.settle()
    assert copies(platform, "ben") == [(EDITION, 1, 0)]
    assert (custody(ben_address, EDITION).call(), custody(ben_wallet.address, EDITION).call()) == (0, 0)
    assert platform.ctx.collectibles.functions.balanceOf(ben_wallet.address, EDITION).call() == 1
    # now in his own wallet: the platform cannot move it, and says so
    refused(client.post(ben_gives, json={"transfer_id": "b-2", "to_customer_id": "cal"}, headers=ben), 409, "edition")
    platform.assert_mirror_matches_chain()
