"""HTML forms (``application/x-www-form-urlencoded``), read strictly: only the fields a form has,
each once, so a crafted post cannot smuggle a field (say, another customer) past a page."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from backend.errors import Unprocessable

FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request, fields: frozenset[str]) -> dict[str, str]:
    """The posted fields (a missing one is absent); unknown or repeated fields are refused (422)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise Unprocessable("send the page's form (application/x-www-form-urlencoded)", field="body")
    try:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True, max_num_fields=len(fields) + 1)
    except (UnicodeDecodeError, ValueError):
        raise Unprocessable("the form is not readable", field="body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in fields:
            raise Unprocessable(f"this form has no field {name!r}", field=name)
        if name in form:
            raise Unprocessable(f"{name!r} was sent more than once", field=name)
        form[name] = value.strip()
    return form


def whole_number(form: dict[str, str], name: str, low: int, high: int) -> int:
    """A whole number field within [low, high] (422 naming it otherwise)."""
    text = form.get(name, "")
    if not text.isdigit() or not low <= int(text) <= high:
        raise Unprocessable(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(text)


def required(form: dict[str, str], name: str, longest: int = 128) -> str:
    value = form.get(name, "")
    if not value or len(value) > longest:
        raise Unprocessable(f"{name} is required (at most {longest} characters)", field=name)
    return value
