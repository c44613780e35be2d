"""The console's collectibles page and an edition's ERC-1155 metadata: an organisation sees the
editions it organises (cap, minted and holders from the mirror, its polls and their counts, door
checks) and opens a poll on one through ``POST /v1/polls``'s own function; another organisation
sees none of them and cannot open a poll on them (403 ``edition``), a form without the session's
CSRF token is refused, and nothing is written. No chain needed: the poll waits in the outbox and
the mirror's rows are what the indexer writes for the events named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.db.models import CollectiblePoll, MirrorCollectibleMove, MirrorEdition, Operation, TicketCheck
from backend.settings import Settings
from tests.provenance.support import Api
from tests.security.test_audit_log import seeded_api
from tests.security.test_console_sessions import HTML, csrf_of, signed_in

ZERO = "0x" + "00" * 20
A, B, C = ("0x" + f"{n:040x}" for n in (0xA, 0xB, 0xC))
POLL = {"edition": "41", "question": "Which colour next?", "options": "Red\nBlue\n", "blocks_open": "20"}


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    for api in seeded_api(settings, engine):
        for edition, organiser in ((41, "demo-brand"), (42, None)):
            collectible = {"edition": edition, "cap": 5, **({"organiser": organiser} if organiser else {})}
            body = {"id": f"edition-{edition}", "name": f"Poster {edition}", "points_price": 10}
            made = api.client.post(
                "/v1/rewards", json={**body, "collectible": collectible}, headers=api.headers("admin")
            )
            assert made.status_code == 201, made.text
        with Session(engine) as session:  # what the indexer mirrors of the edition's events
            session.add(MirrorEdition(edition=41, cap=5, block_number=3, tx_hash="0x01"))
            for n, (previous, holder, amount) in enumerate(((ZERO, A, 2), (ZERO, B, 1), (A, C, 2))):
                move = MirrorCollectibleMove(
                    block_number=4 + n,
                    log_index=0,
                    edition=41,
                    previous=previous,
                    holder=holder,
                    amount=amount,
                    tx_hash="0x02",
                )
                session.add(move)
            session.add(TicketCheck(nonce="n1", edition=41, holder=C, checked_by="door-key"))
            session.commit()
        yield api


def counts(api: Api) -> tuple[int, int]:
    with Session(api.engine) as session:
        polls = session.exec(select(func.count()).select_from(CollectiblePoll)).one()
        operations = session.exec(select(func.count()).select_from(Operation)).one()
        return int(polls), int(operations)


def test_an_organisation_sees_its_editions_and_opens_a_poll(api: Api) -> None:
    brand = signed_in(api, "demo-brand")
    page = brand.get("/console/collectibles", headers=HTML)
    assert page.status_code == 200, page.text
    row = page.text.split('data-edition="41">')[1].split("</tr>")[0]
    numbers = [cell.split("<")[0] for cell in row.split('class="num">')[1:]]
    assert numbers == ["5", "3", "2"]  # cap on chain, copies minted, addresses holding one (B and C)
    assert 'data-edition="42"' not in page.text  # not its edition
    assert C in page.text  # the door check of its edition
    assert "door-key" not in page.text  # which key checked it: the admin's to see
    before = counts(api)
    opened = brand.post("/console/collectibles/polls", data={"csrf_token": csrf_of(page.text), **POLL}, headers=HTML)
    assert opened.status_code == 200, opened.text
    assert "Poll 1 of edition 41" in opened.text
    assert "Which colour next?" in opened.text
    assert counts(api) == (before[0] + 1, before[1] + 1)  # the poll and its open_poll operation

    admin = signed_in(api, "admin")
    everything = admin.get("/console/collectibles", headers=HTML).text
    assert 'data-edition="41"' in everything
    assert 'data-edition="42"' in everything
    assert "door-key" in everything


def test_another_organisation_and_a_forged_form_change_nothing(api: Api) -> None:
    api.organisation("outsider", ["brand"])
    outsider = signed_in(api, "outsider")
    page = outsider.get("/console/collectibles", headers=HTML)
    assert page.status_code == 200
    assert "data-edition=" not in page.text
    assert C not in page.text
    assert "No edition." in page.text
    before = counts(api)
    csrf = csrf_of(page.text)
    for edition in ("41", "42"):  # the brand's edition, and one no organisation organises
        refused = outsider.post("/console/collectibles/polls", data={"csrf_token": csrf, **POLL, "edition": edition})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["field"] == "edition"
    brand = signed_in(api, "demo-brand")
    assert brand.post("/console/collectibles/polls", data=POLL, headers=HTML).status_code == 403  # no CSRF token
    assert counts(api) == before


def test_an_editions_uri_resolves_to_its_metadata(api: Api) -> None:
    answer = api.client.get(f"/collectibles/{41:064x}.json")  # the contract's uri, {id} as EIP-1155 says
    assert answer.status_code == 200, answer.text
    metadata = answer.json()
    assert metadata["name"] == "Poster 41"
    traits = {a["trait_type"]: a["value"] for a in metadata["attributes"]}
    assert traits == {"Edition": 41, "Cap": 5, "Organiser": "demo-brand"}
    assert all(address not in answer.text.lower() for address in (A, B, C))  # no holder
    for unknown in (42, 43):  # a reward whose edition is not on chain yet; no reward at all
        missing = api.client.get(f"/collectibles/{unknown:064x}.json")
        assert (missing.status_code, missing.json()["error"]["field"]) == (404, "edition")
    assert api.client.get("/collectibles/41.json").status_code == 422  # not the 64 hex digits clients send
