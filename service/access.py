"""Request ids and the access log.

``RequestLog`` is pure ASGI middleware: it gives every HTTP request an id
(``scope["state"]["request_id"]``), sets ``X-Request-Id`` on the answer and
logs one JSON line per request (logger ``licwiz.access``, formatted by
service/logs.py): time, id, client address, method, route, status, ms and the
error code the handlers named (``scope["state"]["error_code"]``). Never a
body, never owner data.

An incoming ``X-Request-Id`` (a proxy's or the client's) is kept, so one id
follows a request through every log; it is kept only when it is at most 100
visible ASCII characters (it goes into log lines and headers), else the
request gets a new one.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, TextIO

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .ids import new_id
from .logs import ACCESS, stream_logger

_GOOD_ID = re.compile(rb"[\x21-\x7e]{1,100}")


def new_request_id() -> str:
    """A new request id. Not thread-safe: called by the event loop's request handling."""
    return new_id()


def request_id(request: Request) -> str:
    """The id ``RequestLog`` gave this request ("" outside it)."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def client_addr(request: Request) -> str:
    return request.client.host if request.client else ""


def incoming_id(scope: Scope) -> str | None:
    """The request's own X-Request-Id when it is usable (see the module)."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"x-request-id":
            return value.decode("ascii") if _GOOD_ID.fullmatch(value) else None
    return None


class RequestLog:
    """Request id, X-Request-Id header, one JSON log line per request.
    ``stream``: write the lines there instead (the embedded center's file)."""

    def __init__(self, app: ASGIApp, stream: TextIO | None = None) -> None:
        self.app = app
        self.log = stream_logger(ACCESS, stream) if stream is not None else logging.getLogger(ACCESS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            client = scope.get("client")
            fields: dict[str, Any] = {
                "id": rid, "client": client[0] if client else None,
                "method": scope.get("method"), "route": scope.get("path"), "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 2),
                "code": scope["state"].get("error_code"),
            }
            self.log.info("%s %s %s", fields["method"], fields["route"], status, extra={"fields": fields})
