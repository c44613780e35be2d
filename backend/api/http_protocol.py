"""The HTTP/1.1 protocol ``credance serve`` runs: uvicorn's (httptools), which writes the answers
that need no application itself, from the parser's callback.

An overload is mostly refusals, and ``/healthz`` must answer throughout it. Through ASGI each of
those costs a task, a request-response cycle, the framework and the middleware chain, all on the
event loop that the admitted requests need. Here it costs a dictionary look-up and one write.
*What* is answered is admission's decision (``Admission.early_answer`` in ``admission.py``, the
same rules its middleware applies); this module only knows HTTP.

A request is answered here only when the answer cannot overtake another one on its connection
(nothing before it is still in flight), the connection stays open after it (HTTP/1.1
keep-alive), it expects no ``100 Continue``, the transport is not asking us to stop writing, and
its target is a plain path. Anything else takes the usual way, where the same decisions are
taken again. The body of a request answered here is read and dropped by the parser, so the next
request on the connection starts where it should.

uvicorn accepts a protocol class for ``http``; the parser callbacks overridden here are those of
the pinned uvicorn (requirements.lock), and tests/e2e/test_http_protocol.py drives them through a
real server and socket, so an upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

PreparedAnswer = tuple[int, bytes]  # as in admission.py: the status, and the rest after the status line


class EarlyAnswers(Protocol):
    def early_answer(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> PreparedAnswer | None: ...


def early_answers_of(app: Any) -> EarlyAnswers | None:
    """The application's early answers (``app.state.early_answers``), looked for through the
    wrappers uvicorn may put around it (proxy headers, message logging)."""
    for _ in range(8):
        state = getattr(app, "state", None)
        found = getattr(state, "early_answers", None) if state is not None else None
        if found is not None:
            return found  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class _NoEvent:
    __slots__ = ()

    def set(self) -> None:
        pass


class _Answered:
    """Stands for the request-response cycle of a request answered here: complete, so the
    parser's callbacks drop the body that follows, and a pipelined request after it starts."""

    __slots__ = ()
    response_complete = True
    disconnected = False
    keep_alive = True
    message_event = _NoEvent()


ANSWERED = _Answered()


class EarlyAnsweringProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.early = early_answers_of(self.app)

    def on_headers_complete(self) -> None:
        answer = self._early_answer()
        if answer is None:
            super().on_headers_complete()
            return
        status, rest = answer
        server_headers = b"".join(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers)
        self.cycle = ANSWERED  # type: ignore[assignment]
        self.transport.write(STATUS_LINE[status] + server_headers + rest)

    def on_message_complete(self) -> None:
        if self.cycle is ANSWERED:  # type: ignore[comparison-overlap]
            # The answer went out with the head; the request ends here (its body was dropped), so
            # the keep-alive timer and the next pipelined request start from now, as after any answer.
            self.on_response_complete()
            return
        super().on_message_complete()

    def _early_answer(self) -> PreparedAnswer | None:
        if self.early is None or self.pipeline or self.flow.write_paused or self.expect_100_continue:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # the request before it is still in flight: answers keep their order
        parser = self.parser
        if parser.get_http_version() != "1.1" or not parser.should_keep_alive() or parser.should_upgrade():
            return None
        target = self.url.partition(b"?")[0]
        if not target.startswith(b"/") or b"%" in target:
            return None  # absolute-form or percent-encoded: the usual way decodes it
        try:
            path = target.decode("ascii")
        except UnicodeDecodeError:
            return None
        return self.early.early_answer(parser.get_method().decode("ascii"), path, self.headers)
