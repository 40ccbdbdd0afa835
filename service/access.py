"""Request ids and the access log.

``RequestLog`` is pure ASGI middleware: it gives every HTTP request an id
(``scope["state"]["request_id"]``), sets ``X-Request-Id`` on the answer and
writes one JSON line per request: time, id, method, route, status, ms and the
error code the handlers named (``scope["state"]["error_code"]``). Never a
body, never owner data.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any, TextIO

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id(request: Request) -> str:
    """The id ``RequestLog`` gave this request ("" outside it)."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def client_addr(request: Request) -> str:
    return request.client.host if request.client else ""


class RequestLog:
    """Request id, X-Request-Id header, one JSON log line per request."""

    def __init__(self, app: ASGIApp, stream: TextIO | None = None) -> None:
        self.app = app
        self.stream: TextIO = stream or sys.stderr

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
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
            line: dict[str, Any] = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "id": rid,
                "method": scope.get("method"), "route": scope.get("path"), "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 2),
                "code": scope["state"].get("error_code"),
            }
            try:
                self.stream.write(json.dumps(line) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
