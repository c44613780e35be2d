"""Collectible rewards end to end on a real chain: an edition in the catalog, redeemed with points
(burned once, the copy minted once, sold out refused before any point is taken), a ticket shown
and checked at a door once, and a poll of the holders counted from the chain by the API and by a
recount that reads only the node. Every party that acts for someone else is refused with a 4xx
naming the field, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from backend.chain.keys import DEV_ACCOUNT
from backend.chain.local_signer import LocalSigner
from backend.cli.main import app as cli
from backend.db.models import CollectibleVote, Operation, Redemption, TicketCheck
from backend.indexer.poll_recount import recount_from_node
from backend.indexer.rpc import JsonRpc
from backend.loyalty import tickets
from tests.contracts.helpers import send
from tests.e2e.loyalty_helpers import balance, buy, line, order, publish
from tests.e2e.test_member_pages import HTML, post_form, sign_in
from tests.security.test_privacy import chain_bytes, encodings
from tests.support import Platform

pytestmark = pytest.mark.chain

EDITION = 41


def written(platform: Platform) -> tuple[int, ...]:
    with Session(platform.engine) as session:
        return tuple(
            int(session.exec(select(func.count()).select_from(model)).one())
            for model in (Operation, Redemption, TicketCheck, CollectibleVote)
        )


def refused(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field, response.text


def other_organisation(platform: Platform) -> dict[str, str]:
    admin = platform.headers("admin")
    made = platform.client.post(
        "/v1/organisations", json={"id": "other-brand", "name": "Other", "roles": ["brand"]}, headers=admin
    )
    assert made.status_code == 201, made.text
    key = platform.client.post("/v1/api-keys", json={"role": "organisation", "org_id": "other-brand"}, headers=admin)
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['key']}"}


def test_redeem_show_a_ticket_and_vote(
    platform: Platform, dev_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, admin = platform.client, platform.headers("admin")
    collectible = {"edition": EDITION, "cap": 2, "organiser": "demo-brand"}
    reward = {"id": "gala-ticket", "name": "Gala night", "points_price": 300, "collectible": collectible}
    refused(client.post("/v1/rewards", json={**reward, "stock": 5}, headers=admin), 422, "stock")
    assert client.post("/v1/rewards", json=reward, headers=platform.headers("brand")).status_code == 403
    created = client.post("/v1/rewards", json=reward, headers=admin)
    assert created.status_code == 201, created.text
    assert (created.json()["kind"], created.json()["stock"]) == ("collectible", 2)
    refused(client.post("/v1/rewards", json={**reward, "id": "again"}, headers=admin), 409, "collectible.edition")
    refused(client.patch("/v1/rewards/gala-ticket", json={"stock": 9}, headers=admin), 409, "stock")
    erin_pii = {"name": "Erin Vasquez-Oyelaran", "email": "erin.vo@example.org", "phone": "+44 20 7946 0411"}
    assert (
        client.post("/v1/customers", json={"customer_id": "erin", **erin_pii}, headers=platform.headers()).status_code
        == 200
    )
    for member, number in (("erin", "C-1"), ("finn", "C-2"), ("gina", "C-3")):
        buy(platform, order(number, member, line("A", 1, "1000.00")))
    platform.settle()
    redeem = {"redemption_id": "gala-1", "reward_id": "gala-ticket"}

    # Sold out is refused before any point is taken; another member's token cannot redeem for erin.
    before = written(platform)
    refused(
        client.post(
            "/v1/customers/erin/redemptions", json={**redeem, "quantity": 3}, headers=platform.as_customer("erin")
        ),
        409,
        "quantity",
    )
    assert (
        client.post("/v1/customers/erin/redemptions", json=redeem, headers=platform.as_customer("finn")).status_code
        == 403
    )
    assert written(platform) == before
    for member in ("erin", "finn"):
        done = client.post(f"/v1/customers/{member}/redemptions", json=redeem, headers=platform.as_customer(member))
        assert done.status_code == 200, done.text
    gina_points = balance(platform, "gina")["balance"]
    before = written(platform)
    refused(
        client.post("/v1/customers/gina/redemptions", json=redeem, headers=platform.as_customer("gina")),
        409,
        "quantity",
    )
    assert written(platform) == before
    platform.settle()
    assert balance(platform, "gina")["balance"] == gina_points
    assert balance(platform, "erin")["balance"] == balance(platform, "finn")["balance"] == gina_points - 300

    held = client.get("/v1/customers/erin/collectibles", headers=platform.as_customer("erin", ["read"]))
    assert held.json()["collectibles"] == [
        {"edition": EDITION, "copies": 1, "in_custody": 1, "reward_id": "gala-ticket", "name": "Gala night"}
    ]
    assert platform.ctx.collectibles is not None
    contract = platform.ctx.collectibles
    assert tuple(contract.functions.edition(EDITION).call()) == (2, 2)  # the cap reached, never passed
    refused(client.get("/v1/customers/erin/collectibles", headers=platform.as_customer("finn")), 403, "customer_id")

    # A ticket: erin's own token with the collectibles scope; gina holds none; finn cannot ask for erin.
    erin = platform.as_customer("erin", ["collectibles"])
    refused(
        client.post(
            "/v1/customers/gina/tickets",
            json={"edition": EDITION},
            headers=platform.as_customer("gina", ["collectibles"]),
        ),
        409,
        "edition",
    )
    refused(
        client.post(
            "/v1/customers/erin/tickets",
            json={"edition": EDITION},
            headers=platform.as_customer("finn", ["collectibles"]),
        ),
        403,
        "customer_id",
    )
    assert (
        client.post(
            "/v1/customers/erin/tickets", json={"edition": EDITION}, headers=platform.as_customer("erin", ["read"])
        ).status_code
        == 403
    )
    shown = client.post("/v1/customers/erin/tickets", json={"edition": EDITION}, headers=erin)
    assert shown.status_code == 201, shown.text
    code = shown.json()["ticket"]
    assert shown.json()["qr"].startswith("data:image/svg+xml")

    other = other_organisation(platform)
    before = written(platform)
    refused(client.post("/v1/tickets/checks", json={"ticket": code}, headers=other), 403, "edition")
    refused(
        client.post("/v1/tickets/checks", json={"ticket": code[:-2] + "xx"}, headers=platform.headers()), 422, "ticket"
    )
    stale = _signed({"h": shown.json()["holder"], "e": EDITION, "n": "stale"}, age=tickets.TICKET_LIFETIME_SECONDS + 5)
    refused(client.post("/v1/tickets/checks", json={"ticket": stale}, headers=platform.headers()), 422, "ticket")
    assert client.post("/v1/tickets/checks", json={"ticket": code}, headers=erin).status_code == 403
    assert written(platform) == before
    admitted = client.post("/v1/tickets/checks", json={"ticket": code}, headers=platform.headers("brand"))
    assert admitted.status_code == 200, admitted.text
    refused(
        client.post("/v1/tickets/checks", json={"ticket": code}, headers=platform.headers()), 409, "ticket"
    )  # replayed

    # A member with their own wallet who sold their copy: their genuine ticket no longer admits.
    second = {**reward, "id": "meet-greet", "collectible": {**collectible, "edition": EDITION + 1, "cap": 1}}
    assert client.post("/v1/rewards", json=second, headers=admin).status_code == 201
    platform.settle()
    issuer = LocalSigner(platform.ctx.w3, dev_keys[DEV_ACCOUNT["issuer"]], 31337)
    seller, buyer = (LocalSigner(platform.ctx.w3, dev_keys[i], 31337) for i in (6, 7))
    as_if_redeemed = (seller.address, 2**40, EDITION + 1, 1, False)  # to that wallet: not in custody
    send(issuer, contract.functions.mint(as_if_redeemed))
    platform.settle()
    sold = _signed({"h": seller.address, "e": EDITION + 1, "n": "sold"})
    send(seller, contract.functions.safeTransferFrom(seller.address, buyer.address, EDITION + 1, 1, b""))
    platform.settle()
    refused(client.post("/v1/tickets/checks", json={"ticket": sold}, headers=platform.headers()), 409, "ticket")

    # A poll: the organiser opens it (another brand, a store's key and a member cannot).
    poll = {"edition": EDITION, "question": "Which city next?", "options": ["Lyon", "Porto", "Graz"], "blocks_open": 50}
    before = written(platform)
    refused(client.post("/v1/polls", json=poll, headers=other), 403, "edition")
    assert client.post("/v1/polls", json=poll, headers=platform.headers()).status_code == 403
    assert client.post("/v1/polls", json=poll, headers=erin).status_code == 403
    refused(
        client.post("/v1/polls", json={**poll, "blocks_open": 2}, headers=platform.headers("brand")), 422, "blocks_open"
    )
    assert written(platform) == before
    opened = client.post("/v1/polls", json=poll, headers=platform.headers("brand"))
    assert opened.status_code == 202, opened.text
    poll_id = opened.json()["poll_id"]
    platform.settle()

    votes = f"/v1/customers/erin/polls/{poll_id}/votes"
    before = written(platform)
    refused(
        client.post(votes, json={"option": 1}, headers=platform.as_customer("finn", ["collectibles"])),
        403,
        "customer_id",
    )
    refused(client.post(votes, json={"option": 3}, headers=erin), 422, "option")
    gina_votes = f"/v1/customers/gina/polls/{poll_id}/votes"
    refused(
        client.post(gina_votes, json={"option": 0}, headers=platform.as_customer("gina", ["collectibles"])),
        409,
        "poll_id",
    )
    assert written(platform) == before
    cast = client.post(votes, json={"option": 1}, headers=erin)
    assert cast.status_code == 202, cast.text
    refused(client.post(votes, json={"option": 2}, headers=erin), 409, "poll_id")  # once per holder
    finn_votes = f"/v1/customers/finn/polls/{poll_id}/votes"
    assert (
        client.post(finn_votes, json={"option": 1}, headers=platform.as_customer("finn", ["collectibles"])).status_code
        == 202
    )
    platform.settle()

    answer = client.get(f"/v1/polls/{poll_id}", headers=erin).json()
    assert answer["results"]["counts"] == [0, 2, 0]
    assert (answer["results"]["eligible"], answer["results"]["ignored"]) == (2, 0)
    start = platform.ctx.manifest.contracts["CollectibleRewards"].deploy_block
    node = JsonRpc(str(platform.ctx.w3.provider.endpoint_uri))  # type: ignore[attr-defined]
    recounted = recount_from_node(node, contract.address, contract.abi, start, poll_id)
    assert recounted.as_dict() == answer["results"]
    monkeypatch.setattr("backend.cli.common.configure_logging", lambda *args: None)
    by_hand = ["--rpc-url", node.url, "--address", contract.address, "--from-block", str(start), "--json"]
    printed = CliRunner().invoke(cli, ["polls", "recount", str(poll_id), *by_hand])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout.strip().splitlines()[-1]) == answer["results"]

    # A campaign for holders: erin holds a copy and earns double; gina holds none and does not.
    window = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z"}
    holders = {"id": "gala-holders", "multiplier": "2", "holds_edition": EDITION, **window}
    publish(platform, {"points_per_unit": "1", "campaigns": [holders]})
    erin_order = buy(platform, order("C-4", "erin", line("A", 1, "100.00")))
    gina_order = buy(platform, order("C-5", "gina", line("A", 1, "100.00")))
    assert (erin_order["points_awarded"], gina_order["points_awarded"]) == (200, 100)
    detail = client.get("/v1/purchases/C-4", params={"store_id": "demo-store"}, headers=platform.headers())
    assert detail.json()["explanation"]["lines"][0]["campaign_condition"] == f"holds edition {EDITION}"
    platform.settle()
    platform.assert_mirror_matches_chain()
    # Nothing of erin's personal data went to the chain: calldata, topics and data of every block.
    needles = set().union(*(encodings(value) for value in erin_pii.values()))
    for where, blob in chain_bytes(platform.ctx.w3, 0):
        assert not any(needle in blob for needle in needles), where


def _signed(payload: dict[str, Any], age: int = 0) -> str:
    """A code signed with the platform's own ticket key (as the platform would have issued it),
    ``age`` seconds old."""
    genuine = tickets._serializer()

    class Aged(URLSafeTimedSerializer):
        pass

    aged = Aged(genuine.secret_keys[-1], salt=genuine.salt)
    signer = aged.make_signer()
    real = signer.get_timestamp
    signer.get_timestamp = lambda: real() - age  # type: ignore[method-assign]
    return signer.sign(aged.dump_payload(payload)).decode()


def test_the_member_page_shows_collectibles_a_ticket_and_votes(platform: Platform) -> None:
    client, admin = platform.client, platform.headers("admin")
    reward = {"id": "vip-pass", "name": "VIP pass", "points_price": 50, "collectible": {"edition": 43, "cap": 5}}
    assert client.post("/v1/rewards", json=reward, headers=admin).status_code == 201
    buy(platform, order("PG-1", "ivy", line("A", 1, "100.00")))
    platform.settle()
    redeemed = client.post(
        "/v1/customers/ivy/redemptions",
        json={"redemption_id": "vip-1", "reward_id": "vip-pass"},
        headers=platform.as_customer("ivy"),
    )
    assert redeemed.status_code == 200, redeemed.text
    poll = {"edition": 43, "question": "Which colour?", "options": ["Red", "Teal"], "blocks_open": 100}
    poll_id = client.post("/v1/polls", json=poll, headers=admin).json()["poll_id"]
    platform.settle()

    reader = sign_in(platform, "ivy", ["read"])
    assert 'data-edition="43"' in reader.get("/me/collectibles", headers=HTML).text
    assert post_form(reader, "/me/collectibles/ticket", "/me/collectibles", edition="43").status_code == 403
    phone = sign_in(platform, "ivy")
    shown = post_form(phone, "/me/collectibles/ticket", "/me/collectibles", edition="43")
    assert shown.status_code == 200, shown.text[-1500:]
    assert 'data-testid="ticket-qr"' in shown.text
    assert 'src="data:image/svg+xml' in shown.text
    none = post_form(phone, "/me/collectibles/ticket", "/me/collectibles", edition="44")
    assert none.status_code == 404
    cast = post_form(phone, "/me/collectibles/vote", "/me/collectibles", poll_id=str(poll_id), option="1")
    assert cast.status_code == 200, cast.text[-1500:]
    assert f'data-voted="{poll_id}"' in cast.text
    again = post_form(phone, "/me/collectibles/vote", "/me/collectibles", poll_id=str(poll_id), option="0")
    assert again.status_code == 409
    platform.settle()
    assert client.get(f"/v1/polls/{poll_id}", headers=admin).json()["results"]["counts"] == [0, 1]

    # The copy is in custody: the page offers to give it, under the same policy as the API route.
    enrolled = client.post("/v1/customers", json={"customer_id": "jo"}, headers=admin)
    assert enrolled.status_code in (200, 201), enrolled.text
    assert 'action="/me/collectibles/transfer"' in phone.get("/me/collectibles", headers=HTML).text
    give = {"edition": "43", "to_customer_id": "jo", "transfer_id": "web-give-1"}
    read_only = post_form(reader, "/me/collectibles/transfer", "/me/collectibles", **give, amount="1")
    assert read_only.status_code == 403  # a session without the collectibles scope gives nothing
    too_many = post_form(phone, "/me/collectibles/transfer", "/me/collectibles", **give, amount="2")
    assert too_many.status_code == 409
    assert "1 copies of edition 43 in custody" in too_many.text
    no_csrf = phone.post("/me/collectibles/transfer", data={**give, "amount": "1"}, headers=HTML)
    assert no_csrf.status_code == 403
    given = post_form(phone, "/me/collectibles/transfer", "/me/collectibles", **give, amount="1")
    assert given.status_code == 200, given.text[-1500:]
    assert 'data-collectible-given="43"' in given.text
    assert 'data-testid="leaving"' in given.text  # no second form while the relay is on its way
    assert 'action="/me/collectibles/transfer"' not in given.text
    platform.settle()
    jo = client.get("/v1/customers/jo/collectibles", headers=admin).json()["collectibles"]
    assert [(c["edition"], c["copies"], c["in_custody"]) for c in jo] == [(43, 1, 1)]
    assert 'data-edition="43"' not in phone.get("/me/collectibles", headers=HTML).text


def test_the_command_line_acts_through_the_api_with_a_token_or_key(platform: Platform) -> None:
    """`credance collectibles` and `credance polls open|vote` are API clients: a member's commands
    need their own token (another member's is refused, exit 2), the door's and the poll's a key."""
    from backend.api.app import create_app
    from tests.provenance.support import serving

    client, admin = platform.client, platform.headers("admin")
    reward = {"id": "cli-pass", "name": "CLI pass", "points_price": 50, "collectible": {"edition": 47, "cap": 5}}
    assert client.post("/v1/rewards", json=reward, headers=admin).status_code == 201
    for number, member in (("CL-1", "kit"), ("CL-2", "lou")):
        buy(platform, order(number, member, line("A", 1, "100.00")))
    platform.settle()
    redeem = {"redemption_id": "cli-1", "reward_id": "cli-pass"}
    assert (
        client.post("/v1/customers/kit/redemptions", json=redeem, headers=platform.as_customer("kit")).status_code
        == 200
    )
    platform.settle()
    runner = CliRunner()
    admin_key = admin["Authorization"].removeprefix("Bearer ")
    with serving(create_app(platform.settings, platform.engine)) as url:
        kit = ["--url", url, "--token", platform.customer_token("kit")]
        lou = ["--url", url, "--token", platform.customer_token("lou")]

        listed = runner.invoke(cli, ["collectibles", "list", "kit", *kit])
        assert listed.exit_code == 0, listed.output
        assert [(c["edition"], c["copies"]) for c in json.loads(listed.stdout)["collectibles"]] == [(47, 1)]
        assert runner.invoke(cli, ["collectibles", "list", "kit", *lou]).exit_code == 2  # another member's token

        shown = runner.invoke(cli, ["collectibles", "ticket", "kit", "47", *kit])
        assert shown.exit_code == 0, shown.output
        code = json.loads(shown.stdout)["ticket"]
        door = ["--url", url, "--key", admin_key]
        assert runner.invoke(cli, ["collectibles", "check-ticket", code, *door]).exit_code == 0
        assert runner.invoke(cli, ["collectibles", "check-ticket", code, *door]).exit_code == 2  # used once

        opened = runner.invoke(cli, ["polls", "open", "47", "Which city?", "Lyon", "Porto", *door])
        assert opened.exit_code == 0, opened.output
        poll_id = json.loads(opened.stdout)["poll_id"]
        platform.settle()
        assert runner.invoke(cli, ["polls", "vote", "kit", str(poll_id), "1", *lou]).exit_code == 2
        voted = runner.invoke(cli, ["polls", "vote", "kit", str(poll_id), "1", *kit])
        assert voted.exit_code == 0, voted.output

        give = ["collectibles", "transfer", "kit", "47", "lou", "--transfer-id", "cli-give-1"]
        assert runner.invoke(cli, [*give, *lou]).exit_code == 2  # lou cannot give kit's copy
        given = runner.invoke(cli, [*give, *kit])
        assert given.exit_code == 0, given.output
        again = runner.invoke(cli, [*give, *kit])
        assert json.loads(again.stdout) == json.loads(given.stdout)  # run again: the first answer
    platform.settle()
    # kit held the copy at the poll's snapshot block: the vote counts, though the copy has left since
    assert client.get(f"/v1/polls/{poll_id}", headers=admin).json()["results"]["counts"] == [0, 1]
    held = client.get("/v1/customers/lou/collectibles", headers=admin).json()["collectibles"]
    assert [(c["edition"], c["copies"]) for c in held] == [(47, 1)]
