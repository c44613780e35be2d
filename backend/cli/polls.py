"""``credance polls``: ``recount`` counts a poll's results again from the node's logs alone (no
database): the rule of ``backend/indexer/poll_recount.py``, which the API's answer applies too.
``open`` (an organisation's key, on its own edition) and ``vote`` (a custodial member's own token)
call the API (``api_client.py``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from backend.cli.api_client import CustomerArgument, KeyOption, UrlOption, call_api, member_token_option
from backend.cli.common import console, friendly_errors, settings

polls_app = typer.Typer(help="Polls of collectible holders.", no_args_is_help=True)


@polls_app.command("recount")
def recount(
    poll_id: Annotated[int, typer.Argument(help="The poll's id on chain.")],
    rpc_url: Annotated[str | None, typer.Option(help="The node to ask (default: the configured one).")] = None,
    address: Annotated[
        str | None, typer.Option(help="The CollectibleRewards contract (default: this deployment's manifest).")
    ] = None,
    from_block: Annotated[int | None, typer.Option(help="First block to read (default: the deployment's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tally as JSON.")] = False,
) -> None:
    """Recount a poll from the chain: holders at its snapshot block, one vote each up to its close."""
    from backend.chain.artifacts import load_artifact
    from backend.chain.client import check_chain, connect
    from backend.chain.manifest import load_manifest
    from backend.indexer.poll_recount import PollNotFound, recount_from_node
    from backend.indexer.rpc import JsonRpc

    s = settings()
    url = rpc_url or s.resolved_rpc_url
    abi = load_artifact(s.build_dir, "CollectibleRewards").abi
    start = from_block or 0
    if address is None:
        with friendly_errors():
            chain_id = check_chain(connect(url), s.chain_id)
            manifest = load_manifest(s.deployments_dir, chain_id)
        deployed = manifest.contracts["CollectibleRewards"]
        address, start = deployed.address, from_block if from_block is not None else deployed.deploy_block
    try:
        counted = recount_from_node(JsonRpc(url), address, abi, start, poll_id)
    except PollNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(counted.as_dict()))
        return
    console.print(
        f"poll {poll_id} (edition {counted.poll.edition}): snapshot block {counted.poll.snapshot_block}, "
        f"closes at block {counted.poll.close_block}, {counted.eligible} holder(s) at the snapshot"
    )
    for option, votes in enumerate(counted.counts):
        console.print(f"  option {option}: {votes}")
    if counted.ignored:
        console.print(f"  ignored: {counted.ignored} vote(s) of non-holders at the snapshot or after the close")


@polls_app.command("open")
def open_command(
    edition: Annotated[int, typer.Argument(help="The edition whose holders vote.")],
    question: Annotated[str, typer.Argument(help="The question.")],
    options: Annotated[list[str], typer.Argument(help="Two to twenty answers, in order.")],
    key: KeyOption,
    blocks_open: Annotated[int, typer.Option(min=1, help="Blocks the poll stays open after the head.")] = 1000,
    url: UrlOption = None,
) -> None:
    """Open a poll of an edition's holders (snapshot: the block it opens in)."""
    body = {"edition": edition, "question": question, "options": options, "blocks_open": blocks_open}
    call_api("POST", url, "/v1/polls", key, body)


@polls_app.command("vote")
def vote_command(
    customer_id: CustomerArgument,
    poll_id: Annotated[int, typer.Argument(help="The poll's id.")],
    option: Annotated[int, typer.Argument(help="The answer's number, from 0.")],
    token: Annotated[str, member_token_option("collectibles")],
    url: UrlOption = None,
) -> None:
    """A custodial member's vote, relayed by the platform (a wallet votes on chain itself)."""
    call_api("POST", url, f"/v1/customers/{customer_id}/polls/{poll_id}/votes", token, {"option": option})
