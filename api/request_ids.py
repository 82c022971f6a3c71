"""Request ids: every request gets one, every answer returns it, every log record carries it.

A client (or a proxy in front of the API) may send ``X-Request-ID``; a value
of 1-128 characters from ``A-Z a-z 0-9 . _ : -`` is kept, anything else is
replaced by a fresh id, so a request id can never smuggle line breaks or
markup into the logs or the answer's headers. The id is returned in the
answer's ``X-Request-ID`` header and is ``record.request_id`` in every log
record written while the request is handled (``-`` outside requests), so a
log format can show it::

    %(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: ContextVar[str] = ContextVar("campuslab_request_id", default="-")


def current_request_id() -> str:
    """The id of the request being handled, ``-`` outside a request."""
    return _current.get()


def accepted_request_id(sent: str | None) -> str:
    """The client's id when it is safe to echo and log, else a fresh one."""
    if sent is not None and _VALID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware: take or make the request id, expose it to logs, return it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                sent = value.decode("latin-1")
                break
        request_id = accepted_request_id(sent)
        token = _current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)


def install_request_id_logging() -> None:
    """Give every log record a ``request_id`` attribute (idempotent; keeps other factories)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adds_request_id", False):
        return

    def record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = _current.get()
        return record

    record_with_request_id.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_id)
