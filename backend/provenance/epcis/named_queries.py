"""Named queries of the EPCIS REST binding (``/epcis/queries``): a query's parameters kept under a
name, run later as ``GET /epcis/queries/{name}/events``. Each organisation has its own names: a
query is read, run and deleted only by the organisation that made it (another one is told it does
not exist, which reveals nothing about the names in use)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import NamedEpcisQuery
from backend.errors import Conflict, InvalidQuery, NotFound
from backend.provenance.epcis.query_params import check_names, standard_filter

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$")
# Paging belongs to each run of the query, not to its definition.
NOT_IN_DEFINITION = ("perPage", "nextPageToken")
MAX_PARAMETERS = 50
MAX_QUERIES = 1000  # per organisation


def create(session: Session, org_id: str, name: Any, parameters: Any) -> NamedEpcisQuery:
    """Keep ``parameters`` under ``name`` for ``org_id``, once checked as a query (a query that
    would be refused when run is refused now, naming its parameter)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidQuery("name: 1-100 letters, digits, '.', '_', '~' or '-'", field="name")
    if not isinstance(parameters, dict) or len(parameters) > MAX_PARAMETERS:
        raise InvalidQuery(f"query: an object of at most {MAX_PARAMETERS} query parameters", field="query")
    check_names(parameters)
    if paging := [p for p in NOT_IN_DEFINITION if p in parameters]:
        raise InvalidQuery(f"{paging[0]}: give it when running the query, not in its definition", field=paging[0])
    standard_filter(parameters)  # every value checked now
    if _find(session, org_id, name) is not None:
        raise Conflict(f"a query named {name!r} exists already", field="name")
    owned = session.exec(select(col(NamedEpcisQuery.id)).where(NamedEpcisQuery.org_id == org_id)).all()
    if len(owned) >= MAX_QUERIES:
        raise Conflict(f"at most {MAX_QUERIES} named queries per organisation: delete one first", field="name")
    query = NamedEpcisQuery(org_id=org_id, name=name, parameters=json.dumps(parameters, separators=(",", ":")))
    session.add(query)
    session.flush()
    return query


def _find(session: Session, org_id: str, name: str) -> NamedEpcisQuery | None:
    found = select(NamedEpcisQuery).where(NamedEpcisQuery.org_id == org_id, NamedEpcisQuery.name == name)
    return session.exec(found).first()


def get(session: Session, org_id: str, name: str) -> NamedEpcisQuery:
    query = _find(session, org_id, name)
    if query is None:
        raise NotFound(f"no query named {name!r} of yours", field="queryName")
    return query


def listed(session: Session, org_id: str) -> list[NamedEpcisQuery]:
    owned = select(NamedEpcisQuery).where(NamedEpcisQuery.org_id == org_id).order_by(col(NamedEpcisQuery.name))
    return list(session.exec(owned.limit(MAX_QUERIES)).all())


def delete(session: Session, org_id: str, name: str) -> None:
    session.delete(get(session, org_id, name))


def definition(query: NamedEpcisQuery) -> dict[str, Any]:
    """The query as the binding shows it: its name and its parameters."""
    return {"name": query.name, "query": json.loads(query.parameters)}
