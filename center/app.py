"""The Licensing Center's ASGI app (Starlette): API v1, admin API, OpenAPI.

``create_app(service)`` builds the app around a ``CenterService`` and mounts
the routes of center/web.py and center/operator.py with the same service.
``app_from_env()`` is the factory uvicorn workers import: it reads
LICWIZ_CENTER_DB and LICWIZ_CENTER_HOME.

``/api/v1/health`` is liveness, ``/api/v1/ready`` readiness (the database
answers at the schema this code needs), ``/metrics`` Prometheus (closed unless
configured: licwiz.service.metrics).

The routes are thin: read the body, call the service, answer JSON. Failures
become the error body in one place (licwiz.service.errors): a database out of
reach is 503 ``unavailable`` with Retry-After (licwiz.service.outage), any other
unexpected failure 500 ``internal``, logged with the request id; every response
carries ``X-Request-Id`` and every request writes one JSON line to the log
(licwiz.service.access): never a body, never owner data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from licwiz.core import __version__
from licwiz.core.errors import LicwizError
from licwiz.service import logs, metrics
from licwiz.service.access import RequestLog, client_addr, request_id
from licwiz.service.body import read_json
from licwiz.service.errors import ApiError, ErrorHandler
from licwiz.service.outage import describe, is_outage
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Scope

from . import db, refusals
from .activation import request_from_json
from .fastpath import ActivationCalls
from .keystore import default_home
from .openapi import openapi_document
from .operator import operator_routes
from .service import CenterService
from .web import web_routes

Endpoint = Callable[[Request], Awaitable[Response]]
LOG = logging.getLogger("licwiz.center")


ERRORS = ErrorHandler(name="center", request_id=request_id, licwiz_status=400,
                      unavailable=refusals.unavailable, internal=refusals.internal, id_header=True)


# Successful answers of these routes issued a license: how it was asked for.
ACTIVATION_ROUTES = {("POST", "/api/v1/activate"): "online", ("POST", "/api/v1/requests"): "request_file",
                     ("POST", "/"): "web", ("POST", "/operator"): "operator"}


def count_request(route: str, method: str, status: int, code: str | None) -> None:
    if code:
        metrics.CENTER_REFUSALS.labels(code).inc()
    elif status < 400 and (how := ACTIVATION_ROUTES.get((method, route))):
        metrics.CENTER_ACTIVATIONS.labels(how).inc()


async def scrape_gauges(engine: AsyncEngine) -> list[Metric]:
    """What the database says at scrape time: whether it answers, kits locked
    now by the PIN-guessing throttle. A gauge read here (not a counter of lock
    events) stays right across restarts and worker processes."""
    try:
        async with engine.connect() as conn:
            locked = (await conn.execute(sa.select(sa.func.count()).select_from(db.kits).where(
                db.kits.c.locked_until > dt.datetime.now(dt.UTC)))).scalar_one()
    except Exception as exc:
        if not is_outage(exc):
            raise
        return [metrics.gauge("licwiz_center_database_up", "1 when the database answers", 0)]
    return [metrics.gauge("licwiz_center_database_up", "1 when the database answers", 1),
            metrics.gauge("licwiz_center_kits_locked", "Kits locked now after wrong PINs", locked)]


def not_ready(detail: str) -> ApiError:
    return ApiError("unavailable", "The Licensing Center is not ready", detail, status=503)


def _scope_request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def create_app(service: CenterService, *, log_stream: TextIO | None = None,
               metrics_access: metrics.MetricsAccess | None = None) -> ASGIApp:
    svc = service

    def audited(handler: Endpoint, event: str = "refuse") -> Endpoint:
        """A route whose refusals the rules have not audited yet (a body that is not
        a request, a missing admin token) go to the audit table as ``event``."""

        async def record(request: Request, rid: str, exc: LicwizError) -> None:
            if getattr(exc, "audited", False):
                return
            try:
                await svc.audit.refusal(exc.code, request_id=rid, client_addr=client_addr(request),
                                        event=event)
            except Exception as db_exc:
                if not is_outage(db_exc):
                    raise  # a bug: the guard answers 500 internal and logs where
                # The refusal still answers: the database being down does not make the input good.
                LOG.error("audit not written: %s (request %s)", describe(db_exc), rid)

        return ERRORS.guard(handler, record)

    plain = ERRORS.guard

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    head = db.head_revision()

    async def ready(request: Request) -> Response:
        """Readiness (a load balancer's or orchestrator's probe): the database
        answers and its schema is the one this code needs. ``health`` stays
        liveness: the process answers, whatever the database does."""
        try:
            revision = await db.schema_revision(svc.engine)
        except Exception as exc:  # any failure to ask the database: not ready
            LOG.warning("not ready: %s (request %s)", describe(exc), request_id(request))
            raise not_ready("the database cannot be reached") from None
        if revision != head:
            raise not_ready(f"the database schema is at revision {revision or 'none'}; this licwiz needs "
                            f"{head} (run 'licwiz center db upgrade')")
        return JSONResponse({"status": "ready", "version": __version__, "schema": head})

    async def keys(request: Request) -> Response:
        return JSONResponse(svc.public_keys())

    async def check(request: Request) -> Response:
        req = request_from_json(await read_json(request, refusals.JSON_RULES))
        out = await svc.check(req, method="online", client_addr=client_addr(request),
                              request_id=request_id(request))
        return JSONResponse(out)

    def _idem(request: Request) -> str | None:
        key = request.headers.get("idempotency-key")
        return key if key else None

    async def activate(request: Request) -> Response:
        req = request_from_json(await read_json(request, refusals.JSON_RULES))
        act = await svc.activate(req, method="online", idempotency_key=_idem(request),
                                 request_id=request_id(request), client_addr=client_addr(request))
        return JSONResponse(act.to_dict())

    async def requests_(request: Request) -> Response:
        body = await read_json(request, refusals.JSON_RULES)
        if not isinstance(body, dict) or not isinstance(body.get("request"), str):
            raise refusals.request_file_body()
        act = await svc.activate_request_file(body["request"], idempotency_key=_idem(request),
                                              request_id=request_id(request),
                                              client_addr=client_addr(request))
        return JSONResponse(act.to_dict())

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    # ---- admin API (Authorization: Bearer <admin token>)

    async def _admin(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or not await svc.operators.check_admin_token(token):
            raise refusals.unauthorized()

    async def admin_kits(request: Request) -> Response:
        await _admin(request)
        if request.method == "GET":
            return JSONResponse({"kits": [k.to_dict() for k in await svc.kits.list_kits()]})
        body = await read_json(request, refusals.JSON_RULES)
        if not isinstance(body, dict):
            raise refusals.kits_body_not_object()
        product = body.get("product", "")
        users, pins, count = (body.get("users", 1), body.get("pins", 3), body.get("count", 1))
        if not isinstance(product, str) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (users, pins, count)
        ):
            raise refusals.kits_body_types()
        made = await svc.kits.create(product, users, pins, count, request_id=request_id(request),
                                     actor="admin-api")
        return JSONResponse({"kits": [k.to_dict() for k in made]}, status_code=201)

    async def admin_kit(request: Request) -> Response:
        await _admin(request)
        return JSONResponse((await svc.kits.info(request.path_params["regnum"])).to_dict())

    async def admin_licenses(request: Request) -> Response:
        await _admin(request)
        regnum = request.query_params.get("regnum") or None
        return JSONResponse({"licenses": await svc.kits.list_licenses(regnum)})

    async def admin_license(request: Request) -> Response:
        await _admin(request)
        return JSONResponse(await svc.kits.license_info(request.path_params["license_id"]))

    async def admin_revoke(request: Request) -> Response:
        await _admin(request)
        return JSONResponse(await svc.kits.revoke(request.path_params["license_id"],
                                                  request_id=request_id(request), actor="admin-api"))

    routes: list[BaseRoute] = [
        Route("/api/v1/health", plain(health), methods=["GET"]),
        Route("/api/v1/ready", plain(ready), methods=["GET"]),
        Route("/api/v1/keys", plain(keys), methods=["GET"]),
        Route("/api/v1/check", audited(check, "check_refuse"), methods=["POST"]),
        Route("/api/v1/activate", audited(activate), methods=["POST"]),
        Route("/api/v1/requests", audited(requests_), methods=["POST"]),
        Route("/api/v1/admin/kits", audited(admin_kits, "admin_refuse"), methods=["GET", "POST"]),
        Route("/api/v1/admin/kits/{regnum}", audited(admin_kit, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses", audited(admin_licenses, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses/{license_id}", audited(admin_license, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses/{license_id}/revoke", audited(admin_revoke, "admin_refuse"),
              methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *web_routes(svc),
        *operator_routes(svc),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await svc.start()
        # What is loaded by now lives as long as the process; frozen, it is left
        # out of the collector's full passes (~10 ms each, a stall for every
        # request in flight: the p99 of bench/center.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await svc.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: ERRORS.http_exception, 405: ERRORS.http_exception})
    app.state.service = svc
    observed = metrics.Observe(app, routes=routes, registry=metrics.CENTER, latency=metrics.CENTER_REQUESTS,
                               on_done=count_request, gauges=lambda: scrape_gauges(svc.engine),
                               access=metrics_access or metrics.MetricsAccess(),
                               request_id=_scope_request_id)
    # POST /activate and /check skip the layers above (center/fastpath.py); their
    # routes stay in ``routes`` for the 405 of another method and the metrics' templates.
    logged = RequestLog(observed, log_stream)
    return ActivationCalls(logged, svc, ERRORS, count_request, logged.log)


METRICS_TOKEN_ENV = "LICWIZ_CENTER_METRICS_TOKEN_FILE"  # set by serve for its workers


def app_from_env() -> ASGIApp:
    """The uvicorn factory: LICWIZ_CENTER_DB, LICWIZ_CENTER_HOME, LICWIZ_CENTER_LOG
    (the access log file), LICWIZ_CENTER_METRICS_TOKEN_FILE. ``serve`` has
    configured logging (uvicorn applies its log_config in every worker); run
    by hand under uvicorn, the same configuration is made here."""
    home = Path(os.environ.get("LICWIZ_CENTER_HOME") or default_home())
    svc = CenterService.open(db.default_db_url(home), home)
    if not logging.getLogger(logs.ACCESS).handlers:
        logs.configure(os.environ.get("LICWIZ_CENTER_LOG") or None)
    logging.raiseExceptions = False  # as logs.configure_process says
    logs.reopen_on_sighup()  # this worker goes on serving after SIGHUP (logrotate)
    token_file = os.environ.get(METRICS_TOKEN_ENV)
    access = metrics.MetricsAccess(metrics.read_token_file(token_file) if token_file else None)
    return create_app(svc, metrics_access=access)
