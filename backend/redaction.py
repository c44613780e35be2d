"""Keep secrets out of the logs, whatever a log call passes.

A structlog processor (last before rendering, so exception text is covered too) that blanks
fields named like secrets, API keys and customer tokens by their shape (``cred_`` or ``cust_`` and
a long token; the short public ``key_id`` stays), and every secret value the process registered
when it loaded it (private keys, keystore passwords) wherever it appears in a string.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"
SECRET_FIELD = re.compile(r"authorization|password|passphrase|secret|private_?key|api_?key$|keystore|credentials", re.I)
API_KEY = re.compile(r"(?:cred|cust)_[A-Za-z0-9_-]{20,}")

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact ``value`` (and its forms with and without ``0x``) from every later log line."""
    if not value or len(value) < 8:
        return
    _secrets.add(value)
    if value.startswith("0x"):
        _secrets.add(value[2:])


def scrub(text: str) -> str:
    text = API_KEY.sub(REDACTED, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


MAX_DEPTH = 32  # a log field nested deeper is not walked (nor written): no recursion without end


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_FIELD.search(str(k)) else _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v, depth + 1) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if SECRET_FIELD.search(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(value)
    return event_dict
