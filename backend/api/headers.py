"""Security headers on every answer (added by the request guards, so refusals get them too).

* Every answer: ``X-Content-Type-Options: nosniff`` (a JSON answer is never run as a script or
  rendered as a page, whatever it contains).
* HTML answers (the verification page a shopper's phone opens, the API reference at ``/docs``):
  a ``Content-Security-Policy`` that allows nothing from other origins and no inline script at
  all (styles inline only when their hash is listed: the template's own ``<style>`` blocks),
  framing refused (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``: no clickjacking of a
  "genuine" verdict), and ``Referrer-Policy: no-referrer`` (a verification link names the item's
  serial; a link followed from the page must not carry it to another site).

The hashes of inline styles are computed from the templates' source when this module loads, so
a style edit needs no second edit here; a template with an inline script, or a ``<style>`` whose
text depends on the request (Jinja syntax inside it), fails at start-up instead of being allowed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


class UnsafeTemplate(RuntimeError):
    """A template would need the policy weakened (an inline script, or request-dependent CSS)."""


def inline_style_hashes(directory: Path = TEMPLATES) -> tuple[str, ...]:
    """CSP sources (``'sha256-…'``) of every ``<style>`` block of the HTML templates."""
    hashes: list[str] = []
    for template in sorted(directory.rglob("*.html")):
        source = template.read_text()
        if _INLINE_SCRIPT.search(source):
            raise UnsafeTemplate(f"{template.name} has an inline <script>: serve it as a file from this origin")
        for style in _STYLE.findall(source):
            if "{{" in style or "{%" in style:
                raise UnsafeTemplate(f"a <style> of {template.name} depends on the request: its hash cannot be listed")
            digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return tuple(hashes)


def content_security_policy(style_hashes: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            " ".join(["style-src 'self'", *style_hashes]),
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy(inline_style_hashes())
NOSNIFF = (b"x-content-type-options", b"nosniff")
HTML_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:  # noqa: SIM110  (a loop, not any(<generator>): every answer asks)
        if key.lower() == b"content-type" and value.lower().startswith(b"text/html"):
            return True
    return False


def secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` and the headers above (a header the application set itself is left as it is)."""
    present = {key.lower() for key, _ in headers}
    extra = [NOSNIFF, *HTML_HEADERS] if _is_html(headers) else [NOSNIFF]
    return headers + [(key, value) for key, value in extra if key not in present]


def with_security_headers(send: Send) -> Send:
    """``send``, adding the headers above to the response's start."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = secured(list(message.get("headers", [])))
        await send(message)

    return send_with_headers
