"""`credance collectibles`: a member's collectible copies through the API (list, give, show as a
ticket) with the member's own customer token, and the door's ticket check with an organisation's
key. API clients, not database tools (``api_client.py``)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from backend.cli.api_client import CustomerArgument, KeyOption, UrlOption, call_api, member_token_option

collectibles_app = typer.Typer(
    help="Collectible rewards: list, give, show a ticket (a member's token); check a ticket (a key).",
    no_args_is_help=True,
)

TokenOption = Annotated[str, member_token_option("collectibles")]
EditionArgument = Annotated[int, typer.Argument(help="The edition (its ERC-1155 token id).")]


@collectibles_app.command("list")
def list_command(customer_id: CustomerArgument, token: TokenOption, url: UrlOption = None) -> None:
    """The copies the member holds now, and how many of them the platform holds in custody."""
    call_api("GET", url, f"/v1/customers/{customer_id}/collectibles", token)


@collectibles_app.command("transfer")
def transfer_command(
    customer_id: CustomerArgument,
    edition: EditionArgument,
    to_customer_id: Annotated[str, typer.Argument(help="The member who receives the copies.")],
    token: TokenOption,
    amount: Annotated[int, typer.Option(min=1, help="Copies to give (held in custody).")] = 1,
    transfer_id: Annotated[
        str | None, typer.Option(help="The transfer's id: run again with the same id, the first answer.")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Give copies the member holds in custody to another member."""
    body = {"transfer_id": transfer_id or f"cli-{uuid.uuid4()}", "to_customer_id": to_customer_id, "amount": amount}
    call_api("POST", url, f"/v1/customers/{customer_id}/collectibles/{edition}/transfers", token, body)


@collectibles_app.command("ticket")
def ticket_command(
    customer_id: CustomerArgument, edition: EditionArgument, token: TokenOption, url: UrlOption = None
) -> None:
    """A signed ticket of a copy the member holds, to show at the door (valid for minutes, used once)."""
    call_api("POST", url, f"/v1/customers/{customer_id}/tickets", token, {"edition": edition})


@collectibles_app.command("check-ticket")
def check_ticket_command(
    ticket: Annotated[str, typer.Argument(help="The code the member shows (from the QR image).")],
    key: KeyOption,
    url: UrlOption = None,
) -> None:
    """Check a ticket at the door with the edition's organisation key: admitted once, else refused."""
    call_api("POST", url, "/v1/tickets/checks", key, {"ticket": ticket})
