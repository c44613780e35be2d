"""The CLI's commands that act for someone call the API, never the database: a member's consent
(their customer token) or an organisation's key must not be replaced by an operator's access to
the database. One call: the API's JSON answer printed; a refusal prints the API's error (its
field) and exits 2. The API is ``--url``, the settings' public URL by default."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from backend.cli.common import console, settings

UrlOption = Annotated[str | None, typer.Option(help="The API's base URL (default: the public URL).")]
CustomerArgument = Annotated[str, typer.Argument(help="The member's customer id.")]


def member_token_option(scope: str) -> Any:
    """``--token`` (or ``CREDANCE_CUSTOMER_TOKEN``): the member's customer token with ``scope``."""
    return typer.Option(envvar="CREDANCE_CUSTOMER_TOKEN", help=f"The member's customer token (scope {scope}).")


KeyOption = Annotated[
    str, typer.Option(envvar="CREDANCE_API_KEY", help="An API key of the organisation (or the admin's).")
]


def call_api(
    method: str, url: str | None, path: str, bearer: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``method path`` with ``bearer``; the answer printed as JSON (exit 2 on a refusal)."""
    import httpx

    base = (url or settings().resolved_public_url).rstrip("/")
    headers = {"Authorization": f"Bearer {bearer}"}
    try:
        response = httpx.request(method, base + path, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        console.print(f"[bold red]error:[/] cannot reach {base}: {exc}")
        raise typer.Exit(code=2) from None
    answer: dict[str, Any] = response.json()
    if response.status_code >= 400:
        error = answer.get("error", {})
        console.print(f"[bold red]refused ({response.status_code}, {error.get('field')}):[/] {error.get('message')}")
        raise typer.Exit(code=2)
    typer.echo(json.dumps(answer, indent=2, sort_keys=True))
    return answer
