"""Rule sets: admins publish new versions; any key or customer token reads them, and anyone can check
their hash on chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from sqlmodel import col, select

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import ANY_PRINCIPAL, Access, AdminDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import RuleSetCreated, RuleSetOut
from backend.db.models import RuleSetRecord
from backend.loyalty.program import get_rule_record, publish_document, rule_set_view, rules_in_force
from backend.loyalty.rule_document import RuleDocument

router = APIRouter(prefix="/v1/rule-sets", tags=["rule sets"], responses=ERROR_RESPONSES)
Reader = Annotated[Access, Depends(ANY_PRINCIPAL)]


@router.post(
    "",
    response_model=RuleSetCreated,
    status_code=201,
    summary="Publish a new rule set (admin)",
    responses={200: {"model": RuleSetCreated, "description": "The rules in force already: nothing published"}},
)
def publish(body: RuleDocument, admin: AdminDep, state: StateDep, response: Response) -> dict[str, Any]:
    """Validates the document, stores it as the next version and queues its content hash for
    ``publishRuleSet`` on chain. Purchases use it from now on. A document equal to the rules in force
    changes nothing (200, ``created: false``)."""
    with state.write() as session:
        record, created = publish_document(session, body.model_dump(mode="json"))
        session.flush()
        if not created:
            response.status_code = 200
        return {**rule_set_view(session, record), "created": created}


@router.get("", response_model=list[RuleSetOut], summary="Every rule-set version")
def list_rule_sets(reader: Reader, session: SessionDep) -> list[dict[str, Any]]:
    records = session.exec(select(RuleSetRecord).order_by(col(RuleSetRecord.version).desc())).all()
    return [rule_set_view(session, record, content=False) for record in records]


@router.get("/current", response_model=RuleSetOut, summary="The rules in force")
def current(reader: Reader, session: SessionDep) -> dict[str, Any]:
    record, _ = rules_in_force(session)
    return rule_set_view(session, record)


@router.get("/{version}", response_model=RuleSetOut, summary="One rule-set version")
def get_rule_set(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)], reader: Reader, session: SessionDep
) -> dict[str, Any]:
    """The canonical content whose keccak-256 is ``content_hash``, and where it stands on chain."""
    return rule_set_view(session, get_rule_record(session, version))
