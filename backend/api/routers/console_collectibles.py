"""The console's collectibles page: each edition (organiser, cap, copies minted, holders, from the
mirror), its polls with their current counts (``polls.results``: the one counting rule,
``poll_recount.tally``) and the recent door checks; a form opens a poll through the function
``POST /v1/polls`` calls (``polls.open_poll``), under that route's policy. An admin sees every
edition; an organisation's session only the editions it organises, and may open polls only on
them (403 ``edition``, nothing written)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from backend.api.deps import StateDep
from backend.api.policy import ADMIN_OR_ORGANISATION, POLL_OPEN
from backend.api.routers.console_pages import FormPage, User, _validated, form_fields, router_for
from backend.api.schemas.collectibles import PollIn
from backend.db.models import CollectiblePoll, Reward, TicketCheck
from backend.loyalty import polls
from backend.loyalty.collectibles import edition_figures
from backend.web.console import ConsoleUser

router = router_for()
EDITIONS_SHOWN = 100
POLLS_SHOWN = 50
CHECKS_SHOWN = 50


def _collectibles(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    query = select(Reward).where(col(Reward.edition).is_not(None))
    if not user.is_admin:
        query = query.where(Reward.organiser == user.org_id)
    rewards = session.exec(query.order_by(col(Reward.edition)).limit(EDITIONS_SHOWN)).all()
    editions = [r.edition for r in rewards if r.edition is not None]
    figures = edition_figures(session, editions)
    shown_polls = session.exec(
        select(CollectiblePoll)
        .where(col(CollectiblePoll.edition).in_(editions))
        .order_by(col(CollectiblePoll.id).desc())
        .limit(POLLS_SHOWN)
    ).all()
    checks = session.exec(
        select(TicketCheck)
        .where(col(TicketCheck.edition).in_(editions))
        .order_by(col(TicketCheck.checked_at).desc())
        .limit(CHECKS_SHOWN)
    ).all()
    return {
        "editions": [{"reward": r, "figures": figures[r.edition or 0]} for r in rewards],
        "polls": [polls.describe(p, polls.results(session, p.id or 0)) for p in shown_polls],
        "checks": checks,
    }


COLLECTIBLES = FormPage("console/collectibles.html", "collectibles", ADMIN_OR_ORGANISATION, _collectibles)


@router.get("/collectibles")
def collectibles(request: Request, user: User, state: StateDep) -> Response:
    return COLLECTIBLES.show(request, user, state)


@router.post("/collectibles/polls")
async def open_poll(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/polls`` does: the options one a line; an organisation only on its editions."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        fields = form_fields(form, ("edition", "blocks_open"))
        fields["options"] = [line.strip() for line in fields.get("options", "").splitlines() if line.strip()]
        body = _validated(PollIn, fields)
        organisation = None if user.is_admin else user.org_id
        with state.write() as session:
            poll = polls.open_poll(session, body.edition, body.question, body.options, body.blocks_open, organisation)
            done = f"Poll {poll.id} of edition {body.edition} is on its way to the chain."
        return {"done": done}

    return await COLLECTIBLES.submit(
        request, user, state, ("edition", "question", "options", "blocks_open"), act, policy=POLL_OPEN
    )
