"""Rendering the pages: one Jinja2 environment over ``backend/api/templates`` (``layout.html`` is
the frame every page extends), answers never cached (they show a member's points), and refusals
as a page for people and as the API's JSON error for programs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from backend.api.error_responses import error_body
from backend.errors import DomainError

TEMPLATES = Path(__file__).resolve().parent.parent / "api" / "templates"
templates = Jinja2Templates(directory=TEMPLATES)
NO_STORE = {"Cache-Control": "no-store"}


def _when(value: datetime | date | str | int | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M UTC")
    return value.strftime("%d %b %Y")


def _points(value: int | None) -> str:
    return f"{value or 0:,}".replace(",", "\u202f")  # a narrow space groups thousands in any language


templates.env.filters["when"] = _when
templates.env.filters["points"] = _points


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status, headers=NO_STORE)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"


def refusal(
    request: Request, error: DomainError, name: str = "error.html", context: dict[str, Any] | None = None
) -> Response:
    """The refusal as a page (the message, the field at fault) or as the API's JSON error."""
    if not wants_html(request):
        return JSONResponse(error_body(error.code, error.message, field=error.field), status_code=error.status)
    return page(request, name, {"error": error, **(context or {})}, status=error.status)
