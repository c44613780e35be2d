"""Helpers shared by the commands: settings, engine, friendly failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from backend.chain.anvil import AnvilError
from backend.chain.build import CompilationError
from backend.chain.client import ChainUnavailable, WrongChain
from backend.chain.keys import KeyNotConfigured
from backend.chain.manifest import ManifestMissing
from backend.chain.nodes import UnsupportedEvm
from backend.db.cluster import PostgresUnavailable
from backend.observability import configure_logging
from backend.settings import Settings, get_settings

console = Console(stderr=True, soft_wrap=True)
EXPECTED = (
    ChainUnavailable,
    WrongChain,
    ManifestMissing,
    KeyNotConfigured,
    AnvilError,
    CompilationError,
    PostgresUnavailable,
    UnsupportedEvm,
)


def settings() -> Settings:
    current = get_settings()
    configure_logging(current.log_format, current.log_level)
    return current


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Known failures (chain down, no deployment, missing key) end with one clear line."""
    try:
        yield
    except EXPECTED as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
