"""Prometheus metrics of both services: the counters and histograms, the
``/metrics`` endpoint and the optional separate metrics listener.

Why /metrics is closed by default: the numbers tell anyone who can read them
the business volume (activations per hour, seats in use per product, which
refusals happen). So it answers only with a metrics token (``Authorization:
Bearer``, compared in constant time) or on a separate listen address the
operator chose (``--metrics-address``, meant for a private network); with
neither it is 404, as if it did not exist.

Counters and histograms live in one registry per service (``CENTER``,
``SERVER``). Values read from the database (kits locked, seats in use and
capacity) are read at scrape time by the service (``ScrapeGauges``), so they
are right whichever process answers the scrape. With several uvicorn worker
processes, ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (a private folder it
makes) before the workers start: each worker writes its values there and a
scrape, answered by any worker or by the separate listener, sums every
worker's (prometheus-client's multiprocess mode).

Route labels are route templates (``/api/v1/admin/kits/{regnum}``), never raw
paths: a raw path would let any client add label values without end.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PATH = "/metrics"
UNMATCHED = "unmatched"  # the route label of a request no route took (404s)

# Seconds: from a cached answer (~1 ms) to a slow activation under load.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CENTER = CollectorRegistry(auto_describe=True)
CENTER_REQUESTS = Histogram("licwiz_center_request_duration_seconds", "Time to answer a request, by route",
                            ["route", "method"], buckets=_BUCKETS, registry=CENTER)
CENTER_ACTIVATIONS = Counter("licwiz_center_activations", "Licenses issued, by how they were asked for",
                             ["method"], registry=CENTER)
CENTER_REFUSALS = Counter("licwiz_center_refusals", "Requests refused, by error code", ["code"],
                          registry=CENTER)

SERVER = CollectorRegistry(auto_describe=True)
SERVER_REQUESTS = Histogram("licwiz_server_request_duration_seconds", "Time to answer a request, by route",
                            ["route", "method"], buckets=_BUCKETS, registry=SERVER)
SERVER_CLAIMS = Counter("licwiz_server_claims", "Seat claims, by result (granted, denied)", ["result"],
                        registry=SERVER)
SERVER_LEASES_LOST = Counter("licwiz_server_leases_lost",
                             "Heartbeats of a seat whose lease had run out (or was released)",
                             registry=SERVER)
SERVER_REFUSALS = Counter("licwiz_server_refusals", "Requests refused, by error code", ["code"],
                          registry=SERVER)

ScrapeGauges = Callable[[], Coroutine[Any, Any, list[Metric]]]


def gauge(name: str, doc: str, values: Iterable[tuple[str, float]] | float, label: str = "") -> Metric:
    """A gauge family: one value, or one per ``label`` value."""
    if isinstance(values, int | float):
        return GaugeMetricFamily(name, doc, value=values)
    fam = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values:
        fam.add_metric([key], value)
    return fam


def counter(name: str, doc: str, values: Iterable[tuple[str, float]], label: str) -> Metric:
    """A counter family read at scrape time (a total the database keeps), one
    value per ``label`` value; exposed as ``<name>_total``."""
    fam = CounterMetricFamily(name, doc, labels=[label])
    for key, value in values:
        fam.add_metric([key], value)
    return fam


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _Fixed(Collector):
    """Families collected elsewhere (the base registry, the scrape-time gauges)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _base(registry: CollectorRegistry) -> CollectorRegistry:
    """The service's own registry, or with worker processes every worker's values."""
    path = multiproc_dir()
    if path is None:
        return registry
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
    return merged


def render(registry: CollectorRegistry, extra: Sequence[Metric], accept: str) -> tuple[bytes, str]:
    """The exposition text (OpenMetrics when the scraper asks for it, else
    Prometheus text) and its content type."""
    families = [*_base(registry).collect(), *extra]
    out = CollectorRegistry(auto_describe=False)
    out.register(_Fixed(families))
    encoder, content_type = choose_encoder(accept)
    return encoder(out), content_type


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """How /metrics on the service's own address answers: ``token`` set: with
    that Bearer token; else 404 (closed, or served on a separate address)."""

    token: str | None = None


def read_token_file(path: str) -> str:
    """The metrics token in ``path`` (first line). A ``ValueError`` naming the
    problem when it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the metrics token file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"the metrics token file {path} is not UTF-8 text") from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(token) < 16:
        raise ValueError(f"the metrics token in {path} is empty or shorter than 16 characters")
    return token


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too); ``ValueError`` naming what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics-address must be HOST:PORT, not {text!r}")
    return host, int(port)


def _bearer(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), "")


class Observe:
    """ASGI middleware: /metrics (as ``access`` says), and for every other
    request its latency by route template and ``on_done(route, method,
    status, error_code)`` for the service's own counters."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], registry: CollectorRegistry,
                 latency: Histogram, on_done: Callable[[str, str, int, str | None], None],
                 gauges: ScrapeGauges, access: MetricsAccess, request_id: Callable[[Scope], str]) -> None:
        self.app = app
        self.routes = routes
        self.registry = registry
        self.latency = latency
        self.on_done = on_done
        self.gauges = gauges
        self.access = access
        self.request_id = request_id

    def template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", UNMATCHED))
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == PATH:
            await self.metrics(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = self.template(scope)
            method = str(scope.get("method", ""))
            self.latency.labels(route, method).observe(time.perf_counter() - start)
            self.on_done(route, method, status, scope.get("state", {}).get("error_code"))

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = self.request_id(scope)
        token = self.access.token
        if token is None:
            response = error_response(rid, "not_found", "no such page", "", 404)
        elif not hmac.compare_digest(_bearer(scope).encode(), token.encode()):
            response = error_response(rid, "unauthenticated", "the metrics token is required",
                                      "Authorization: Bearer <metrics token>", 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        elif scope.get("method") not in ("GET", "HEAD"):
            response = error_response(rid, "method_not_allowed", "GET /metrics", "", 405)
        else:
            extra = await self.gauges()
            body, content_type = await asyncio.to_thread(render, self.registry, extra,
                                                         _header(scope, b"accept"))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", content_type.encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["error_code"] = "not_found" if token is None else "unauthenticated"
        await response(scope, receive, send)


class _Scraped(Collector):
    """For the separate listener: the base values and the database gauges,
    read on each scrape in the listener's thread (its own event loop)."""

    def __init__(self, registry: CollectorRegistry, gauges: ScrapeGauges) -> None:
        self.registry = registry
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        yield from _base(self.registry).collect()
        yield from asyncio.run(self.gauges())


def listen(address: str, registry: CollectorRegistry, gauges: ScrapeGauges) -> Any:
    """Serve /metrics on ``address`` (HOST:PORT) from a thread of this process
    (with worker processes: the supervisor, reading every worker's values).
    ``gauges`` runs on the listener's own event loop: it must make its own
    database engine. Returns the HTTP server (``shutdown()`` stops it); a
    ``ValueError`` naming the address when it cannot listen there."""
    host, port = parse_address(address)
    out = CollectorRegistry(auto_describe=False)
    out.register(_Scraped(registry, gauges))
    try:
        server, _thread = start_http_server(port, addr=host, registry=out)
    except OSError as exc:  # in use, no permission, not an address of this computer
        raise ValueError(f"cannot listen on the metrics address {address}: {exc.strerror or exc}") from None
    return server


class MultiprocDir:
    """A private (0700) folder for the workers' metric files, made empty at
    start and removed at the end; set as PROMETHEUS_MULTIPROC_DIR for the
    workers, which inherit the environment."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="licwiz-metrics-")
        os.environ[MULTIPROC_ENV] = self.path

    def close(self) -> None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(self.path, ignore_errors=True)
