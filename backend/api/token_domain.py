"""The chain this API serves and the LoyaltyPoints token's EIP-712 domain on it (wallet claims and
Sign-In with Ethereum are bound to them)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlmodel import Session

from backend.api.deps import AppState
from backend.chain.deploy import TOKEN_NAME
from backend.chain.manifest import ManifestMissing, load_manifest, manifest_path
from backend.db.models import ChainCursor
from backend.errors import Conflict
from backend.loyalty.wallet_claims import TokenDomain
from backend.settings import DEV_CHAIN_ID

TOKEN_VERSION = "1"  # noqa: S105 (ERC20Permit's EIP-712 version, not a secret)


def chain_id_of(state: AppState, session: Session) -> int:
    """The configured chain id, else the one the indexer follows, else the local Anvil's."""
    if state.settings.chain_id:
        return state.settings.chain_id
    cursor = session.get(ChainCursor, "indexer")
    return cursor.chain_id if cursor is not None else DEV_CHAIN_ID


@lru_cache(maxsize=8)
def _token_address(path: Path, modified: float) -> str:
    return load_manifest(path.parent, int(path.stem)).address_of("LoyaltyPoints")


def token_domain(state: AppState, session: Session) -> TokenDomain:
    """The domain the token's own permits use: name, version "1", chain id, the token's address."""
    chain_id = chain_id_of(state, session)
    path = manifest_path(state.settings.deployments_dir, chain_id)
    try:
        address = _token_address(path, path.stat().st_mtime)
    except (FileNotFoundError, ManifestMissing):
        raise Conflict(f"the contracts are not deployed on chain {chain_id}", field=None) from None
    return TokenDomain(TOKEN_NAME, TOKEN_VERSION, chain_id, address)
