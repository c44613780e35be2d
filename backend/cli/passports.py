"""`credance passports`: a member's passports through the API, with the member's own customer token.

The commands are API clients, not database tools (``api_client.py``): a claim or a transfer needs
the member's consent (their token, scope ``passports``, from ``--token`` or
``CREDANCE_CUSTOMER_TOKEN``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from backend.cli.api_client import CustomerArgument, UrlOption, call_api, member_token_option

passports_app = typer.Typer(help="Item passports: claim, transfer, list (a member's own token).", no_args_is_help=True)

TokenOption = Annotated[str, member_token_option("passports")]


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
    call_api("POST", url, f"/v1/customers/{customer_id}/passports", token, body)


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
    call_api("POST", url, f"/v1/customers/{customer_id}/passports/{token_id}/transfers", token, body)


@passports_app.command("list")
def list_command(customer_id: CustomerArgument, token: TokenOption, url: UrlOption = None) -> None:
    """The passports the member holds now, and claims not yet on chain."""
    call_api("GET", url, f"/v1/customers/{customer_id}/passports", token)
