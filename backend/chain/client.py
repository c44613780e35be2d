"""A web3.py connection tuned for a backend: no per-call chain-id check, clear errors when the
chain is unreachable."""

from __future__ import annotations

import os
import time

import requests
from requests.utils import get_environ_proxies, get_netrc_auth
from web3 import Web3
from web3.providers.rpc import HTTPProvider


class ChainUnavailable(RuntimeError):
    """The JSON-RPC endpoint does not answer."""


class WrongChain(RuntimeError):
    """The endpoint serves another chain than the one configured."""


def rpc_session(rpc_url: str, pool_maxsize: int = 32) -> requests.Session:
    """A keep-alive session for one JSON-RPC endpoint, its environment settings read once.

    By default requests reads the environment on every request (proxy variables, ``.netrc``,
    CA bundle): scanning ``os.environ`` was a tenth of the Python work of the sender's and the
    indexer's calls. The endpoint does not change, so the same settings are resolved here, once.
    """
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.proxies.update(get_environ_proxies(rpc_url))
    session.auth = get_netrc_auth(rpc_url)
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session


def connect(rpc_url: str, timeout: float = 10.0) -> Web3:
    session = rpc_session(rpc_url)
    provider = HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, session=session)
    w3 = Web3(provider)
    # The validation middleware asks eth_chainId before every eth_call; we check the chain
    # id once at start-up instead. ENS resolution is useless on our own contracts.
    for name in ("validation", "ens_name_to_address"):
        w3.middleware_onion.remove(name)
    return w3


def chain_id_of(w3: Web3) -> int:
    try:
        return int(w3.eth.chain_id)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ChainUnavailable(f"no JSON-RPC answer at {_url(w3)}: is the chain running?") from exc


def wait_for_chain(w3: Web3, timeout: float = 20.0) -> int:
    """Wait until the endpoint answers; return its chain id."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return chain_id_of(w3)
        except ChainUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def check_chain(w3: Web3, expected_chain_id: int | None) -> int:
    chain_id = chain_id_of(w3)
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise WrongChain(f"{_url(w3)} serves chain {chain_id}, configured for chain {expected_chain_id}")
    return chain_id


def _url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", "the RPC endpoint"))
