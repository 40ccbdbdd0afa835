"""The error envelope both services answer with, and the one place where an
exception becomes that answer.

Every error body is ``{"error": {"code", "brief", "detail", "request_id", ...}}``
with an HTTP status; ``...`` are the extra fields an ``ApiError`` carries (the
license server's ``field`` and ``holders``). ``ApiError`` is the one error class
for a refusal or an HTTP error: the center's refusal catalogue
(center/refusals.py) and the license server raise it.

``ErrorHandler`` holds what differs between the services (how a request id is
found, the status of a plain ``LicwizError``, the words of ``unavailable`` and
``internal``) and turns exceptions into answers in one way:

- ``handler.guard(endpoint, on_error=...)`` wraps an endpoint: nothing it
  raises reaches a client as a traceback;
- ``handler.failure(exc, rid)``: what an exception that is not a
  ``LicwizError`` becomes, logged: the database out of reach (service/outage.py)
  is 503 ``unavailable``, anything else a bug, 500 ``internal``;
- ``handler.http_exception`` is the Starlette exception handler for routing
  errors (404, 405), in the same envelope.

Every 503 answer carries ``Retry-After``: it is the status of "the same call
will work later", and clients (and proxies) wait that long before retrying.

The error code goes to ``scope["state"]["error_code"]`` for the access log.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Concatenate, ParamSpec, Protocol, TextIO, TypeVar

from licwiz.core.errors import LicwizError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import outage

P = ParamSpec("P")


class ApiError(LicwizError):
    """A refusal or HTTP error: stable ``code``, ``brief`` and ``detail`` for
    people, HTTP ``status``, and ``extra`` fields for the error body."""

    def __init__(self, code: str, brief: str, detail: str = "", *, status: int = 400, **extra: Any) -> None:
        super().__init__(brief, detail, code=code)
        self.status = status
        self.extra = extra
        # Set once a service has recorded the refusal (the center's audit table),
        # so the handler's ``on_error`` hook does not record it twice.
        self.audited = False


class HasScope(Protocol):
    """What the handler needs of a request: its ASGI scope (Starlette's Request
    and the license server's raw seat requests both have one)."""

    @property
    def scope(self) -> MutableMapping[str, Any]: ...


R = TypeVar("R", bound=HasScope)
Endpoint = Callable[Concatenate[R, P], Awaitable[Response]]
OnError = Callable[[R, str, LicwizError], Awaitable[None]]


def envelope(request_id: str, code: str, brief: str, detail: str,
             extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "brief": brief, "detail": detail, "request_id": request_id,
                      **(extra or {})}}


def error_response(request_id: str, code: str, brief: str, detail: str, status: int, *,
                   headers: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None,
                   ) -> JSONResponse:
    return JSONResponse(envelope(request_id, code, brief, detail, extra), status_code=status,
                        headers=dict(headers or {}))


def mark_error(scope: MutableMapping[str, Any], code: str) -> None:
    """Name the error code of this request for the access log."""
    scope.setdefault("state", {})["error_code"] = code


class ErrorHandler:
    """Exceptions -> error answers, for one service (``name`` begins its log lines).

    ``request_id(request)`` gives the id an error names; ``licwiz_status`` is the
    HTTP status of a ``LicwizError`` that is not an ``ApiError`` (bad input that
    a core parser refused); ``unavailable()`` and ``internal()`` are the service's
    503 and 500 answers (see ``failure``); with ``id_header`` every error answer
    carries ``X-Request-Id``.
    """

    def __init__(self, *, name: str, request_id: Callable[[Any], str], licwiz_status: int,
                 unavailable: Callable[[], ApiError], internal: Callable[[], ApiError], id_header: bool,
                 log: TextIO | None = None) -> None:
        self.name = name
        self.request_id = request_id
        self.licwiz_status = licwiz_status
        self.unavailable = unavailable
        self.internal = internal
        self.id_header = id_header
        self.log = log

    def failure(self, exc: BaseException, rid: str) -> ApiError:
        """What ``exc`` (not a ``LicwizError``) is answered with, logged with the
        request id: types and codes only, never a message (SQL parameters could
        carry owner data)."""
        if outage.is_outage(exc):
            self._log(f"database unavailable: {outage.describe(exc)} (request {rid})")
            return self.unavailable()
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
        self._log(f"internal error {type(exc).__name__} at {where} (request {rid})")
        return self.internal()

    def _log(self, line: str) -> None:
        # A closed or full log must not turn an answer into a crash.
        if self.log is None:  # the service's logging: one JSON line (service/logs.py)
            logging.getLogger(f"licwiz.{self.name.removeprefix('licwiz ')}").error(line)
            return
        with contextlib.suppress(OSError, ValueError):
            print(f"{self.name}: {line}", file=self.log, flush=True)

    def respond(self, request: HasScope, rid: str, exc: ApiError,
                headers: Mapping[str, str] | None = None) -> JSONResponse:
        mark_error(request.scope, exc.code)
        all_headers = {**(headers or {}), **({"X-Request-Id": rid} if self.id_header else {})}
        if exc.status == 503:
            all_headers.setdefault("Retry-After", str(outage.RETRY_AFTER))
        return error_response(rid, exc.code, exc.brief, exc.detail, exc.status, headers=all_headers,
                              extra=exc.extra)

    def as_api_error(self, exc: LicwizError) -> ApiError:
        if isinstance(exc, ApiError):
            return exc
        return ApiError(exc.code, exc.brief, exc.detail, status=self.licwiz_status)

    def guard(self, endpoint: Endpoint[R, P], on_error: OnError[R] | None = None) -> Endpoint[R, P]:
        """``endpoint`` with every failure answered as an error body. ``on_error``
        sees each ``LicwizError`` (refusals, bad input) before it is answered."""

        async def guarded(request: R, /, *args: P.args, **kwargs: P.kwargs) -> Response:
            try:
                return await endpoint(request, *args, **kwargs)
            except LicwizError as exc:
                rid = self.request_id(request)
                mark_error(request.scope, exc.code)
                if on_error is not None:
                    try:
                        await on_error(request, rid, exc)
                    except Exception as hook_exc:  # e.g. the database went while recording it
                        return self.respond(request, rid, self.failure(hook_exc, rid))
                return self.respond(request, rid, self.as_api_error(exc))
            except Exception as exc:
                rid = self.request_id(request)
                return self.respond(request, rid, self.failure(exc, rid))

        return guarded

    async def http_exception(self, request: Request, exc: Exception) -> Response:
        """Starlette's handler for routing errors (no such path, wrong method)."""
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        code = "not_found" if status == 404 else "method_not_allowed" if status == 405 else "bad_request"
        error = ApiError(code, "No such page or API call",
                         f"{request.method} {request.url.path}: HTTP {status}", status=status)
        # A 405 keeps its Allow header.
        headers = exc.headers if isinstance(exc, HTTPException) else None
        return self.respond(request, self.request_id(request), error, headers)
