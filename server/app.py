"""The license server's HTTP API (JSON, under /api/v1).

- ``GET    /api/v1/health``                 -> {"status": "ok", "version"}          (no token; liveness)
- ``GET    /api/v1/ready``                  -> {"status": "ready", "version", "schema"} or 503 unavailable
  (no token; the database answers at the schema this code needs)
- ``GET    /metrics``                       -> Prometheus/OpenMetrics text (metrics token; else 404:
  service/metrics.py)
- ``GET    /api/v1/parameters?product=P``   -> {"product", "params": {name: digest}} (client or admin)
- ``POST   /api/v1/licenses`` {"license"}   -> 201 {"license_id", "product", "users", "not_after", "new"}
  (admin)
- ``GET    /api/v1/licenses``               -> {"licenses": [...], "capacity": {product: users}} (admin)
- ``GET    /api/v1/seats?product=P``        -> {"seats": [{"seat_id", "product", "slot", "user", "host",
  "session", "since", "expires_in"}]} (admin)
- ``POST   /api/v1/seats`` {"session", "host", "user", "product"?}
                                            -> 201 {"seat_id", "slot", "product", "lease", "since"} (client)
                                               409 no_seat with "holders" [{user, host, session, since, slot}]
- ``POST   /api/v1/seats/{id}/heartbeat``   -> {"seat_id", "lease"} or 404 seat_lost (client)
- ``DELETE /api/v1/seats/{id}``             -> {"released": true|false} (client; false: no seat was held,
  none by that id or its lease had run out, which the seat log records as an expiry)

Errors: ``{"error": {"code", "brief", "detail", "request_id"}}`` with an HTTP status;
503 ``unavailable`` (with Retry-After) while the database cannot be reached,
500 ``internal`` for a failure of the server itself (logged with the request id).
Tokens travel as ``Authorization: Bearer <token>``; the server keeps only their hashes.
The admin token is accepted wherever the client token is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from licwiz.core import __version__, fingerprint, keys
from licwiz.core import license as lic_mod
from licwiz.core.errors import LicwizError
from licwiz.core.product import current_product
from licwiz.core.text import text_problem
from licwiz.service import metrics
from licwiz.service.access import RequestLog, incoming_id
from licwiz.service.body import JsonRules, read_asgi, read_json
from licwiz.service.errors import ApiError, ErrorHandler, HasScope
from licwiz.service.ids import new_id
from licwiz.service.logs import ACCESS
from licwiz.service.outage import describe, is_outage
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import db
from .logthread import LineThread
from .seatstore import SeatStore

MAX_BODY = 64 * 1024
MAX_FIELD = 200
JSON_RULES = JsonRules(
    max_bytes=MAX_BODY,
    too_large=("too_large", f"request body over {MAX_BODY // 1024} KiB", ""),
    not_json=("bad_json", "request body is not JSON", ""),
    not_object=("bad_json", "request body must be a JSON object", ""),
)


def _request_id(request: HasScope) -> str:
    # RequestLog's id (the one in X-Request-Id and the access log line).
    return str(request.scope.get("state", {}).get("request_id", "")) or uuid.uuid4().hex


def _unavailable() -> ApiError:
    return ApiError("unavailable", "the license server's database cannot be reached now",
                    "try again shortly; seats already held keep their lease meanwhile", status=503)


def _internal() -> ApiError:
    return ApiError("internal", "the license server failed to answer",
                    "an internal error: see the server's log for this request id", status=500)


# A database out of reach is 503 unavailable with Retry-After (clients keep
# their seats and retry), any other failure a bug: 500 internal, logged with
# the request id (service/errors.py). Bad input a core parser refused (an
# uploaded license) is 422, as the server's own checks.
ERRORS = ErrorHandler(name="licwiz server", request_id=_request_id, licwiz_status=422,
                      unavailable=_unavailable, internal=_internal, id_header=False)


@dataclass
class ServerState:
    engine: AsyncEngine
    lease: float
    admin_hash: str = ""
    client_hash: str = ""
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    store: SeatStore | None = None
    # SQLite: the seat store's synchronous statements must never wait for a
    # write transaction that SQLAlchemy (aiosqlite) holds open across awaits
    # in this same process, so every database use here takes this lock.
    sqlite_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def db_lock(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self.sqlite_lock if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()

    def seats(self) -> SeatStore:
        if self.store is None:
            raise RuntimeError("seat store not started")
        return self.store

    def server_params(self, product: str) -> dict[str, str]:
        # Collected once per product: the computer does not change under a running server.
        if product not in self.params:
            self.params[product] = fingerprint.collect(product)
        return self.params[product]


def _check_token(request: Request, state: ServerState, *, admin: bool) -> None:
    _check_auth(request.headers.get("authorization", ""), state, admin=admin)


def _check_auth(auth: str, state: ServerState, *, admin: bool) -> None:
    """``auth``: the Authorization header."""
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthenticated", "a token is required (Authorization: Bearer ...)", status=401)
    h = db.token_hash(token.strip())
    ok = hmac.compare_digest(h, state.admin_hash)
    if not admin:
        ok = ok or hmac.compare_digest(h, state.client_hash)
    if not ok:
        raise ApiError("forbidden", "the admin token is required" if admin else "the token is not valid",
                       status=403)


async def _json(request: Request) -> dict[str, Any]:
    doc: dict[str, Any] = await read_json(request, JSON_RULES)
    return doc


def _text_field(doc: dict[str, Any], name: str, default: str | None = None) -> str:
    v = doc.get(name, default)
    if not isinstance(v, str) or not v.strip() or len(v) > MAX_FIELD:
        raise ApiError("bad_input", f"field {name!r} must be a non-empty text of at most {MAX_FIELD} chars",
                       status=422, field=name)
    # Holder names are printed on other people's terminals (licwiz run's refusal,
    # server status): no control or invisible characters get in.
    problem = text_problem(v)
    if problem is not None:
        raise ApiError("bad_input", f"field {name!r} {problem}", status=422, field=name)
    return v.strip()


Handler = Callable[[Request, ServerState], Awaitable[Response]]


def _guarded(fn: Handler, *, auth: str | None) -> Handler:
    """``fn`` behind the token check, with every failure as a JSON error."""

    async def checked(request: Request, state: ServerState) -> Response:
        if auth is not None:
            _check_token(request, state, admin=auth == "admin")
        return await fn(request, state)

    return ERRORS.guard(checked)


def _endpoint(fn: Handler, *, auth: str | None) -> Callable[[Request], Awaitable[Response]]:
    guarded = _guarded(fn, auth=auth)

    async def run(request: Request) -> Response:
        return await guarded(request, request.app.state.licwiz)

    return run


async def health(request: Request, state: ServerState) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request, state: ServerState) -> Response:
    """Readiness: the database answers and its schema is the one this code
    needs (``health`` stays liveness)."""
    head = _schema_head()
    try:
        async with state.db_lock():
            revision = await db.schema_revision(state.engine)
    except Exception as exc:  # any failure to ask the database: not ready
        logging.getLogger("licwiz.server").warning("not ready: %s", describe(exc))
        raise _not_ready("the database cannot be reached") from None
    if revision != head:
        raise _not_ready(f"the database schema is at revision {revision or 'none'}; this licwiz needs {head}")
    return JSONResponse({"status": "ready", "version": __version__, "schema": head})


@functools.cache
def _schema_head() -> str:  # read from the migration scripts once
    return db.head_revision()


def _not_ready(detail: str) -> ApiError:
    return ApiError("unavailable", "the license server is not ready", detail, status=503)


async def parameters(request: Request, state: ServerState) -> Response:
    product = request.query_params.get("product") or current_product()
    if len(product) > 100:
        raise ApiError("bad_input", "product name too long", status=422, field="product")
    return JSONResponse({"product": product, "params": state.server_params(product)})


async def post_license(request: Request, state: ServerState) -> Response:
    doc = await _json(request)
    text = doc.get("license")
    if not isinstance(text, str):
        raise ApiError("bad_input", "field 'license' must hold the license text", status=422, field="license")
    ring = keys.load_keyring()
    lic = lic_mod.verify(text, ring, source="uploaded license")  # raises LicwizError -> 422
    m = fingerprint.matches(lic.params, state.server_params(lic.product))
    if not m.ok:
        raise ApiError("wrong_computer", "the license is bound to another computer, not this server",
                       f"parameters that differ: {', '.join(m.changed) or m.reason}", status=422)
    async with state.db_lock():
        new = await db.store_license(state.engine, lic.license_id, lic.product, lic.users, lic.issued,
                                     lic.not_after, lic.supersedes, text)
    return JSONResponse({"license_id": lic.license_id, "product": lic.product, "users": lic.users,
                         "not_after": lic.not_after, "new": new}, status_code=201)


async def get_licenses(request: Request, state: ServerState) -> Response:
    cap: dict[str, int] = {}
    async with state.db_lock():
        rows = await db.list_licenses(state.engine)
        async with state.engine.connect() as conn:
            for product in sorted({r.product for r in rows}):
                cap[product] = await db.capacity(conn, product)
    return JSONResponse({
        "licenses": [{"license_id": r.license_id, "product": r.product, "users": r.users, "issued": r.issued,
                      "not_after": r.not_after, "supersedes": r.supersedes} for r in rows],
        "capacity": cap,
    })


async def get_seats(request: Request, state: ServerState) -> Response:
    now = time.time()
    async with state.db_lock():
        rows = await db.seats_in_use(state.engine, request.query_params.get("product") or None)
    return JSONResponse({"seats": [{"seat_id": s.seat_id, "product": s.product, **s.holder(),
                                    "expires_in": round(s.expires_at - now, 1)} for s in rows]})


Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON body


async def claim_seat(state: ServerState, doc: dict[str, Any]) -> Answer:
    session = _text_field(doc, "session")
    host = _text_field(doc, "host")
    user = _text_field(doc, "user")
    product = _text_field(doc, "product", current_product())
    async with state.db_lock():
        claim = await state.seats().claim(product, session, host, user, state.lease)
    if claim.seat is None:
        if claim.capacity == 0:
            raise ApiError("no_license", f"the server holds no valid license for {product}", status=409)
        raise ApiError("no_seat", f"all {claim.capacity} seat(s) of {product} are in use", status=409,
                       holders=claim.holders)
    s = claim.seat
    return 201, {"seat_id": s.seat_id, "slot": s.slot, "product": s.product, "lease": state.lease,
                 "since": db.iso(s.granted_at)}


async def beat_seat(state: ServerState, seat_id: str) -> Answer:
    async with state.db_lock():
        s = await state.seats().heartbeat(seat_id, state.lease)
    if s is None:
        raise ApiError("seat_lost", "this seat is not held any more (lease ran out, or released)", status=404)
    return 200, {"seat_id": s.seat_id, "lease": state.lease}


async def free_seat(state: ServerState, seat_id: str) -> Answer:
    async with state.db_lock():
        released = await state.seats().release(seat_id)
    return 200, {"released": released}


# Starlette's routes for the seat calls: SeatCalls answers them first, so these
# serve only as route templates (metrics labels) and for 405 on other methods.
async def acquire(request: Request, state: ServerState) -> Response:
    status, doc = await claim_seat(state, await _json(request))
    return JSONResponse(doc, status_code=status)


async def heartbeat(request: Request, state: ServerState) -> Response:
    status, doc = await beat_seat(state, request.path_params["seat_id"])
    return JSONResponse(doc, status_code=status)


async def release(request: Request, state: ServerState) -> Response:
    status, doc = await free_seat(state, request.path_params["seat_id"])
    return JSONResponse(doc, status_code=status)


_CLAIM = "/api/v1/seats"  # the route templates of the seat calls (metrics labels)
_BEAT = "/api/v1/seats/{seat_id:str}/heartbeat"
_FREE = "/api/v1/seats/{seat_id:str}"


def _seat_route(method: str, path: str) -> tuple[str, str] | None:
    """(route template, seat id) of a seat call; None for any other request."""
    if path == _CLAIM:
        return (_CLAIM, "") if method == "POST" else None
    if not path.startswith(_CLAIM + "/"):
        return None
    rest = path[len(_CLAIM) + 1:]
    if method == "DELETE" and rest and "/" not in rest:
        return _FREE, rest
    if method == "POST" and rest.endswith("/heartbeat") and rest.count("/") == 1 and len(rest) > 10:
        return _BEAT, rest[:-10]
    return None


async def _read_doc(receive: Receive, length: bytes | None) -> dict[str, Any]:
    """The JSON object of the body, within JSON_RULES (read as every fast path reads: service/body.py)."""
    doc = await read_asgi(receive, None if length is None else length.decode("latin-1"), JSON_RULES)
    if not isinstance(doc, dict):
        raise ApiError(*JSON_RULES.not_object or JSON_RULES.not_json, status=400)
    return doc


class _Call:
    """A seat call as the error handler sees it (its scope)."""

    __slots__ = ("scope",)

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self.scope = scope


_access_thread: LineThread[logging.LogRecord] | None = None


def _access_lines(log: logging.Logger) -> LineThread[logging.LogRecord]:
    """The seat calls' access lines, written by a thread of their own (server/logthread.py):
    one per process, whatever the number of apps made in it."""
    global _access_thread
    if _access_thread is None:
        _access_thread = LineThread.started("licwiz-access", log.handle)
    return _access_thread


class SeatCalls:
    """The seat calls (claim, heartbeat, release), answered straight from ASGI in
    front of every middleware layer: they are the server's hot path, and
    Starlette's routing, its Request/Response objects and the two middleware
    layers (request log, metrics: each wraps ``send``, and the metrics layer
    matches the route templates again) cost CPU on every call (bench/seats.py).
    What those layers do for a request is done here inline, the same way: the
    request id (an incoming X-Request-Id kept) and its header, the access log
    line (written by a thread: server/logthread.py), the latency histogram and
    the counters; the same tokens, limits and JSON errors (``ERRORS``); bodies
    parsed and written with orjson. Every other request goes to ``rest``."""

    def __init__(self, rest: ASGIApp, state: ServerState) -> None:
        self.rest = rest
        self.state = state
        self.access = logging.getLogger(ACCESS)
        self.lines = _access_lines(self.access)
        self.latency = {(t, m): metrics.SERVER_REQUESTS.labels(t, m)
                        for t, m in ((_CLAIM, "POST"), (_BEAT, "POST"), (_FREE, "DELETE"))}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _seat_route(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.rest(scope, receive, send)
            return
        start = time.perf_counter()
        template, seat_id = route
        rid = incoming_id(scope) or new_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status = 500
        try:
            status, body, headers = await self._answer(scope, receive, template, seat_id, rid)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            method = scope["method"]
            elapsed = time.perf_counter() - start
            self.latency[template, method].observe(elapsed)
            code = state.get("error_code")
            count_request(template, method, status, code)
            if self.access.isEnabledFor(logging.INFO):  # the fields of service/access.py's line
                client = scope.get("client")
                fields = {"id": rid, "client": client[0] if client else None, "method": method,
                          "route": scope["path"], "status": status, "ms": round(elapsed * 1000, 2),
                          "code": code}
                # the record made now (its time), formatted and written by the thread
                self.lines.put(self.access.makeRecord(ACCESS, logging.INFO, __file__, 0, "%s %s %s",
                                                      (method, scope["path"], status), None,
                                                      extra={"fields": fields}))

    async def _answer(self, scope: Scope, receive: Receive, template: str, seat_id: str,
                      rid: str) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        auth = b""
        length: bytes | None = None
        for key, value in scope["headers"]:
            key = key.lower()
            if key == b"authorization":
                auth = value
            elif key == b"content-length":
                length = value
        try:
            _check_auth(auth.decode("latin-1"), self.state, admin=False)
            if template == _CLAIM:
                status, doc = await claim_seat(self.state, await _read_doc(receive, length))
            elif template == _BEAT:
                status, doc = await beat_seat(self.state, seat_id)
            else:
                status, doc = await free_seat(self.state, seat_id)
        except Exception as exc:  # answered as ERRORS.guard answers every other route
            err = ERRORS.as_api_error(exc) if isinstance(exc, LicwizError) else ERRORS.failure(exc, rid)
            response = ERRORS.respond(_Call(scope), rid, err)
            return response.status_code, bytes(response.body), [*response.raw_headers,
                                                                (b"x-request-id", rid.encode())]
        body = orjson.dumps(doc)
        return status, body, [(b"content-type", b"application/json"),
                              (b"content-length", str(len(body)).encode()), (b"x-request-id", rid.encode())]


def count_request(route: str, method: str, status: int, code: str | None) -> None:
    if code:
        metrics.SERVER_REFUSALS.labels(code).inc()
    if route == _CLAIM and method == "POST":
        if status == 201:
            metrics.SERVER_CLAIMS.labels("granted").inc()
        elif code in ("no_seat", "no_license"):
            metrics.SERVER_CLAIMS.labels("denied").inc()
    elif code == "seat_lost":
        metrics.SERVER_LEASES_LOST.inc()


async def scrape_gauges(engine: AsyncEngine) -> list[Metric]:
    """Seats in use and capacity by product, and the leases that expired, read
    at scrape time (right whichever server process on a shared database answers
    the scrape; the expiries are the seat log's, so a restart loses none)."""
    up = "licwiz_server_database_up"
    try:
        products = {r.product for r in await db.list_licenses(engine)}
        in_use: dict[str, int] = {}
        for seat in await db.seats_in_use(engine):
            in_use[seat.product] = in_use.get(seat.product, 0) + 1
        expired = await db.leases_expired(engine)
        products |= set(in_use) | set(expired)
        async with engine.connect() as conn:
            cap = {p: await db.capacity(conn, p) for p in sorted(products)}
    except Exception as exc:
        if not is_outage(exc):
            raise
        return [metrics.gauge(up, "1 when the database answers", 0)]
    return [metrics.gauge(up, "1 when the database answers", 1),
            metrics.gauge("licwiz_server_seats_in_use", "Seats held now (lease not run out)",
                          [(p, in_use.get(p, 0)) for p in sorted(products)], "product"),
            metrics.gauge("licwiz_server_seats_capacity", "Seats the valid licenses allow today",
                          sorted(cap.items()), "product"),
            metrics.counter("licwiz_server_leases_expired",
                            "Seat leases that ran out without a heartbeat or release (seat log expiries)",
                            [(p, expired.get(p, 0)) for p in sorted(products)], "product")]


def _scope_request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def create_app(engine: AsyncEngine, store: SeatStore, *, lease: float = 120.0,
               metrics_access: metrics.MetricsAccess | None = None) -> ASGIApp:
    state = ServerState(engine, lease, store=store)

    async def gauges() -> list[Metric]:
        async with state.db_lock():
            return await scrape_gauges(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cfg = await db.get_config(engine)
        state.admin_hash = cfg.get("admin_token_hash", "")
        state.client_hash = cfg.get("client_token_hash", "")
        if not state.admin_hash or not state.client_hash:
            raise RuntimeError("the server has no tokens yet: run 'licwiz server init' first")
        await store.start()
        # What is loaded by now lives as long as the process; frozen, it is left
        # out of the collector's full passes (9 ms each here, a stall for every
        # request in flight).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await store.close()
            await engine.dispose()

    routes = [
        Route("/api/v1/health", _endpoint(health, auth=None), methods=["GET"]),
        Route("/api/v1/ready", _endpoint(ready, auth=None), methods=["GET"]),
        Route("/api/v1/parameters", _endpoint(parameters, auth="client"), methods=["GET"]),
        Route("/api/v1/licenses", _endpoint(post_license, auth="admin"), methods=["POST"]),
        Route("/api/v1/licenses", _endpoint(get_licenses, auth="admin"), methods=["GET"]),
        Route("/api/v1/seats", _endpoint(acquire, auth="client"), methods=["POST"]),
        Route("/api/v1/seats", _endpoint(get_seats, auth="admin"), methods=["GET"]),
        Route("/api/v1/seats/{seat_id:str}/heartbeat", _endpoint(heartbeat, auth="client"), methods=["POST"]),
        Route("/api/v1/seats/{seat_id:str}", _endpoint(release, auth="client"), methods=["DELETE"]),
    ]
    # No such path, wrong method: the JSON error body (and its code in the access log) too.
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: ERRORS.http_exception, 405: ERRORS.http_exception})
    app.state.licwiz = state
    return SeatCalls(RequestLog(metrics.Observe(
        app, routes=routes, registry=metrics.SERVER, latency=metrics.SERVER_REQUESTS,
        on_done=count_request, gauges=gauges, access=metrics_access or metrics.MetricsAccess(),
        request_id=_scope_request_id)), state)
