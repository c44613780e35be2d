"""`credance passports`: a member's passports through the API, with the member's own customer token.

The commands are API clients, not database tools: a claim or a transfer needs the member's
consent (their token, scope ``passports``), which an operator's access to the database must not
replace. The token comes from ``--token`` or ``CREDANCE_CUSTOMER_TOKEN``; the API from ``--url``
(the settings' public URL by default). Each command prints the API's JSON answer; a refusal
prints the API's error (its field) and exits 2.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer

from backend.cli.common import console, settings

passports_app = typer.Typer(help="Item passports: claim, transfer, list (a member's own token).", no_args_is_help=True)

TokenOption = Annotated[
    str, typer.Option(envvar="CREDANCE_CUSTOMER_TOKEN", help="The member's customer token (scope passports).")
]
UrlOption = Annotated[str | None, typer.Option(help="The API's base URL (default: the public URL).")]
CustomerArgument = Annotated[str, typer.Argument(help="The member's customer id.")]


def _call(method: str, url: str | None, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import httpx

    base = (url or settings().resolved_public_url).rstrip("/")
    headers = {"Authorization": f"Bearer {token}"}
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


@passports_app.command("claim")
def claim_command(
    customer_id: CustomerArgument,
    gtin: Annotated[str, typer.Argument(help="The item's GTIN.")],
    serial: Annotated[str, typer.Argument(help="The item's serial (from its label or receipt).")],
    token: TokenOption,
    claim_id: Annotated[
        str | None, typer.Option(help="The claim's id: run again with the same id, the first answer (never twice).")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Claim the passport of an item the member bought."""
    body = {"claim_id": claim_id or f"cli-{uuid.uuid4()}", "gtin": gtin, "serial": serial}
    _call("POST", url, f"/v1/customers/{customer_id}/passports", token, body)


@passports_app.command("transfer")
def transfer_command(
    customer_id: CustomerArgument,
    token_id: Annotated[str, typer.Argument(help="The passport's token id (0x + 64 hex digits).")],
    to_customer_id: Annotated[str, typer.Argument(help="The member who receives it.")],
    token: TokenOption,
    transfer_id: Annotated[
        str | None, typer.Option(help="The transfer's id: run again with the same id, the first answer.")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Give a passport the member holds in custody to another member (a resale)."""
    body = {"transfer_id": transfer_id or f"cli-{uuid.uuid4()}", "to_customer_id": to_customer_id}
    _call("POST", url, f"/v1/customers/{customer_id}/passports/{token_id}/transfers", token, body)


@passports_app.command("list")
def list_command(customer_id: CustomerArgument, token: TokenOption, url: UrlOption = None) -> None:
    """The passports the member holds now, and claims not yet on chain."""
    _call("GET", url, f"/v1/customers/{customer_id}/passports", token)
