"""POST /api/v1/activate and /api/v1/check answered straight from ASGI.

They are the center's hot path: every acquisition asks /check, then
/activate. In front of every middleware layer, without Starlette's routing,
Request and Response objects, the request-log and metrics layers (each wraps
``send`` and the metrics layer matches the route templates again), the same
work is done inline, the same way as for every other route (as the license
server's seat calls do, server/app.py ``SeatCalls``):

- the request id (an incoming X-Request-Id kept, service/access.py) and its
  header; the access log line with the same fields; the latency histogram
  and the activation and refusal counters (center/app.py ``count_request``);
- the body read within the same limits (service/body.py, orjson); answers
  written with orjson;
- a refusal the rules did not audit yet (a body that is not a request) goes to
  the audit table, as center/app.py's ``audited`` routes do; every failure
  is answered by the one error handler (``ERRORS``).

Every other request goes to ``rest``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
from licwiz.core.errors import LicwizError
from licwiz.service import metrics
from licwiz.service.access import incoming_id, new_request_id
from licwiz.service.body import read_asgi
from licwiz.service.errors import ErrorHandler
from licwiz.service.outage import describe, is_outage
from starlette.types import ASGIApp, Receive, Scope, Send

from . import refusals
from .activation import request_from_json
from .service import CenterService

LOG = logging.getLogger("licwiz.center")
ACTIVATE, CHECK = "/api/v1/activate", "/api/v1/check"
Headers = list[tuple[bytes, bytes]]


class _Call:
    """A call as the error handler sees it (its scope)."""

    __slots__ = ("scope",)

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self.scope = scope


class ActivationCalls:
    def __init__(self, rest: ASGIApp, svc: CenterService, errors: ErrorHandler,
                 count_request: Callable[[str, str, int, str | None], None], access: logging.Logger) -> None:
        self.rest = rest
        self.svc = svc
        self.errors = errors
        self.count_request = count_request
        self.access = access  # the request log's logger (service/access.py)
        self.latency = {path: metrics.CENTER_REQUESTS.labels(path, "POST") for path in (ACTIVATE, CHECK)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in (ACTIVATE, CHECK):
            await self.rest(scope, receive, send)
            return
        start = time.perf_counter()
        rid = incoming_id(scope) or new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = 500
        try:
            status, body, headers = await self._answer(scope, receive, path, rid)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - start
            self.latency[path].observe(elapsed)
            code = state.get("error_code")
            self.count_request(path, "POST", status, code)
            if self.access.isEnabledFor(logging.INFO):  # the fields of service/access.py's line
                client = scope.get("client")
                fields = {"id": rid, "client": client[0] if client else None, "method": "POST",
                          "route": path, "status": status, "ms": round(elapsed * 1000, 2), "code": code}
                self.access.info("%s %s %s", "POST", path, status, extra={"fields": fields})

    async def _answer(self, scope: Scope, receive: Receive, path: str,
                      rid: str) -> tuple[int, bytes, Headers]:
        length: str | None = None
        idem: str | None = None
        for key, value in scope["headers"]:
            key = key.lower()
            if key == b"content-length":
                length = value.decode("latin-1")
            elif key == b"idempotency-key":
                idem = value.decode("latin-1") or None
        client = scope.get("client")
        addr = client[0] if client else ""
        try:
            req = request_from_json(await read_asgi(receive, length, refusals.JSON_RULES))
            if path == ACTIVATE:
                act = await self.svc.activate(req, method="online", idempotency_key=idem, request_id=rid,
                                              client_addr=addr)
                doc: Any = act.to_dict()
            else:
                doc = await self.svc.check(req, method="online", client_addr=addr, request_id=rid)
        except Exception as exc:  # answered as ERRORS.guard answers every other route
            return await self._error(scope, rid, addr, "refuse" if path == ACTIVATE else "check_refuse", exc)
        body = orjson.dumps(doc)
        return 200, body, [(b"content-type", b"application/json"),
                           (b"content-length", str(len(body)).encode()), (b"x-request-id", rid.encode())]

    async def _error(self, scope: Scope, rid: str, addr: str, event: str,
                     exc: Exception) -> tuple[int, bytes, Headers]:
        call = _Call(scope)
        if isinstance(exc, LicwizError):
            try:
                await self._audit(rid, addr, event, exc)
                err = self.errors.as_api_error(exc)
            except Exception as hook_exc:  # a bug while recording it: 500, logged
                err = self.errors.failure(hook_exc, rid)
        else:
            err = self.errors.failure(exc, rid)
        response = self.errors.respond(call, rid, err)
        return response.status_code, bytes(response.body), response.raw_headers

    async def _audit(self, rid: str, addr: str, event: str, exc: LicwizError) -> None:
        """A refusal the rules have not audited (center/app.py ``audited``)."""
        if getattr(exc, "audited", False):
            return
        try:
            await self.svc.audit.refusal(exc.code, request_id=rid, client_addr=addr, event=event)
        except Exception as db_exc:
            if not is_outage(db_exc):
                raise
            # The refusal still answers: the database being down does not make the input good.
            LOG.error("audit not written: %s (request %s)", describe(db_exc), rid)

