"""Who is scanning, without knowing who: a client's identity for clone detection is a keyed hash of
its *network* (IPv4 /24, IPv6 /48), never the address itself.

Why the network and nothing else: the question clone detection asks is "is this one client
repeating itself, or many distinct ones?". A user agent, a cookie or a device id costs an
attacker nothing to change on every request, so each would let one machine pose as many; its
network costs real money to multiply. Everyone behind the same network (a shop's Wi-Fi, a
mobile carrier's NAT) counts as one client, which errs towards "authentic".

Why keyed: an unkeyed hash of an IPv4 /24 is reversed by hashing all 16.7 million networks. The
key comes from ``CREDANCE_SCAN_CLIENT_SECRET`` or, by default, from ``scan-client.key`` in
``CREDANCE_HOME`` (32 random bytes, created once, mode 0600): every API process of one home
shares it, and deleting it makes every stored client hash unlinkable to any network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path

from backend.home import create_once
from backend.redaction import register_secret

KEY_FILE = "scan-client.key"
IPV4_PREFIX = 24
IPV6_PREFIX = 48


def network_of(host: str | None) -> str:
    """The network a client address belongs to (``203.0.113.0/24``); a host that is not an IP
    address (a test client, a Unix socket) is its own network."""
    try:
        address = ipaddress.ip_address((host or "").strip())
    except ValueError:
        return f"host:{host or '?'}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _read_or_create_key(path: Path) -> bytes:
    """The key in ``path``, created once (0600) by whichever process comes first."""
    text = create_once(path, lambda: secrets.token_hex(32))
    if len(text) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to make a new one")
    return text.encode()


@lru_cache(maxsize=8)
def client_key(home: Path, configured: str | None = None) -> bytes:
    """The keyed-hash secret of this home (cached: read once per process)."""
    key = configured.encode() if configured else _read_or_create_key(home / KEY_FILE)
    register_secret(key.decode())
    return key


def client_id(key: bytes, host: str | None) -> str:
    """The stored identity of a client: 32 hex digits of HMAC-SHA256(key, network)."""
    return hmac.new(key, network_of(host).encode(), hashlib.sha256).hexdigest()[:32]
