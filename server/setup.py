"""Setting a license server up and starting it: what ``licwiz server init|serve``
do, apart from their words.

- ``initialise(url, admin, client, force)``: schema at the newest revision,
  the two tokens' hashes (only hashes are stored, so every server process on a
  shared PostgreSQL database accepts the same tokens).
- ``prepare(url)``: what ``serve`` checks before it listens (the schema at
  this licwiz's revision, never upgraded here; the tokens).
- ``serve(...)``: uvicorn on the app of server/app.py.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.service import metrics
from prometheus_client.metrics_core import Metric
from sqlalchemy.engine import make_url

from . import db
from .app import create_app, scrape_gauges
from .seatstore import store_for

LOG = logging.getLogger("licwiz.server")


def prepare_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


async def initialise(url: str, admin: str, client: str, force: bool) -> bool:
    """False when the database already has tokens and ``force`` is not set."""
    engine = db.make_engine(url)
    try:
        await db.run_migrations(engine)
        cfg = await db.get_config(engine)
        if cfg.get("admin_token_hash") and not force:
            return False
        await db.set_config(engine, {"admin_token_hash": db.token_hash(admin),
                                     "client_token_hash": db.token_hash(client)})
    finally:
        await engine.dispose()
    return True


async def prepare(url: str) -> str | None:
    """Why ``serve`` must not start on this database (one line, English; in the
    user's language with ``localized``); None: it may.
    The schema is never upgraded here: that is ``init``'s or ``db upgrade``'s,
    run on purpose (other server processes may share the database)."""
    engine = db.make_engine(url)
    try:
        revision = await db.schema_revision(engine)
        problem = db.schema_problem(revision, legacy=revision is None and await db.has_tables(engine))
        if problem is not None:
            return problem.text
        cfg = await db.get_config(engine) if revision is not None else {}
    finally:
        await engine.dispose()
    if not (cfg.get("admin_token_hash") and cfg.get("client_token_hash")):
        return Msg(N_("this database has no tokens yet: run 'licwiz server init' first"))
    return None


METRICS_TOKEN_ENV = "LICWIZ_SERVER_METRICS_TOKEN_FILE"
METRICS_ADDRESS_ENV = "LICWIZ_SERVER_METRICS_ADDRESS"


def metrics_access(token_file: str | None, address: str | None) -> tuple[metrics.MetricsAccess, str | None]:
    """How /metrics answers, from the command line else the environment
    (LICWIZ_SERVER_METRICS_TOKEN_FILE, LICWIZ_SERVER_METRICS_ADDRESS). A
    ``LicwizError`` (usage) naming a token file or address that cannot be used."""
    token_file = token_file or os.environ.get(METRICS_TOKEN_ENV) or None
    address = address or os.environ.get(METRICS_ADDRESS_ENV) or None
    try:
        token = metrics.read_token_file(token_file) if token_file else None
        if address:
            metrics.parse_address(address)
    except ValueError as exc:
        raise LicwizError(str(exc), code="usage") from None
    return metrics.MetricsAccess(token), address


LOG_FILE_ENV = "LICWIZ_SERVER_LOG_FILE"


def serve(*, url: str, host: str, port: int, lease: float, tls_cert: str | None, tls_key: str | None,
          banner: str, metrics_token_file: str | None = None, metrics_address: str | None = None,
          log_file: str | None = None) -> bool:
    """Serve until stopped; False when the server could not start. ``banner`` is
    printed once the app is built, before it listens. Metrics: see
    ``metrics_access`` and service/metrics.py (neither a token nor an address:
    /metrics is 404). ``log_file`` (else LICWIZ_SERVER_LOG_FILE): the JSON
    access log goes there (created 0600, reopened after logrotate and SIGHUP),
    else to stderr with every other line."""
    import uvicorn
    from licwiz.service import logs

    log_file = log_file or os.environ.get(LOG_FILE_ENV) or None
    config = logs.log_config(str(Path(log_file).resolve()) if log_file else None)
    logs.configure_process(config)

    try:
        access, address = metrics_access(metrics_token_file, metrics_address)
    except LicwizError as exc:  # one line and exit 1, not a traceback
        LOG.error("%s", exc)
        return False
    # A fresh engine: the one ``prepare`` used belonged to another event loop.
    app = create_app(db.make_engine(url), store_for(url), lease=lease, metrics_access=access)

    async def gauges() -> list[Metric]:
        engine = db.make_engine(url)
        try:
            return await scrape_gauges(engine)
        finally:
            await engine.dispose()

    try:
        listener = metrics.listen(address, metrics.SERVER, gauges) if address else None
    except ValueError as exc:
        LOG.error("%s", exc)
        return False
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=config, log_level="info",
                                           access_log=False, ssl_certfile=tls_cert or None,
                                           ssl_keyfile=tls_key or None, lifespan="on"))
    LOG.info("%s", banner)
    logs.reopen_on_sighup()  # SIGHUP reopens the log file; the server goes on
    # uvicorn drains on SIGTERM and then raises the signal again, to the handler
    # that was there before it started (for a program embedding it); with the
    # default handler the process then dies of it, status -15, after a clean
    # drain. The stop was asked for and done, so the handler before uvicorn's is
    # its own: the repeated signal asks a stopped server to stop (nothing), and
    # ``serve`` returns, the command exits 0 (what systemd and the README expect).
    # A SIGTERM before uvicorn installs its handler stops the server the same way.
    previous = signal.signal(signal.SIGTERM, server.handle_exit)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if listener is not None:
            listener.shutdown()
    return bool(server.started)
