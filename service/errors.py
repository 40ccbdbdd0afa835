"""The error envelope both services answer with, and the one place where an
exception becomes that answer.

Every error body is ``{"error": {"code", "brief", "detail", "request_id", ...}}``
with an HTTP status; ``...`` are the extra fields an ``ApiError`` carries (the
license server's ``field`` and ``holders``). ``ApiError`` is the one error class
for a refusal or an HTTP error: the center's refusal catalogue
(center/refusals.py) and the license server raise it.

``ErrorHandler`` holds what differs between the services (how a request id is
found, the status of a plain ``LicwizError``, what an unexpected exception
becomes and what it logs) and turns exceptions into answers in one way:

- ``handler.guard(endpoint, on_error=...)`` wraps an endpoint: nothing it
  raises reaches a client as a traceback;
- ``handler.http_exception`` is the Starlette exception handler for routing
  errors (404, 405), in the same envelope.

The error code goes to ``scope["state"]["error_code"]`` for the access log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from licwiz.core.errors import LicwizError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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
    """Exceptions -> error answers, for one service.

    ``request_id(request)`` gives the id an error names; ``licwiz_status`` is the
    HTTP status of a ``LicwizError`` that is not an ``ApiError`` (bad input that
    a core parser refused); ``unexpected(exc, request_id)`` logs anything else
    (never its SQL parameters) and says what to answer; with ``id_header`` every
    error answer carries ``X-Request-Id``.
    """

    def __init__(self, *, request_id: Callable[[Any], str], licwiz_status: int,
                 unexpected: Callable[[Exception, str], ApiError], id_header: bool) -> None:
        self.request_id = request_id
        self.licwiz_status = licwiz_status
        self.unexpected = unexpected
        self.id_header = id_header

    def respond(self, request: HasScope, rid: str, exc: ApiError,
                headers: Mapping[str, str] | None = None) -> JSONResponse:
        mark_error(request.scope, exc.code)
        all_headers = {**(headers or {}), **({"X-Request-Id": rid} if self.id_header else {})}
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
                    await on_error(request, rid, exc)
                return self.respond(request, rid, self.as_api_error(exc))
            except Exception as exc:
                rid = self.request_id(request)
                return self.respond(request, rid, self.unexpected(exc, rid))

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
