"""Setting a center up and starting it: what ``licwiz center init|serve`` and
the embedded center (center/embedded.py) do, apart from their words.

- ``initialise(home, db_url, ...)``: key pairs, schema at the newest Alembic
  revision, an admin token when there is none (or a new one on request), the
  phone number; idempotent. The home and the SQLite files are made private
  (0700, 0600) on the way.
- ``open_service(db_url, home)``: a started ``CenterService`` on a database that
  is set up (``not_initialised`` otherwise).
- ``serve(...)``: uvicorn with ``--workers`` processes; each worker builds its
  app with ``center.app.app_from_env`` from the environment set here. Forwarded
  headers (X-Forwarded-For) are believed only from ``forwarded_allow_ips``
  (uvicorn would believe loopback by default, letting a local client choose
  the address the throttle counts). A SIGTERM drains and exits 0.

Database URLs go into messages only as ``db.shown_url`` (no password).
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.core.storage import atomic_write

from . import db
from .keystore import CenterKeys, init_keys, load_keys, secure_home
from .service import CenterService

APP_FACTORY = "licwiz.center.app:app_from_env"  # what uvicorn's worker processes import


def not_initialised(db_url: str) -> LicwizError:
    return LicwizError(Msg(N_("The Licensing Center database is not set up; run 'licwiz center init'")),
                       Msg(N_("no schema in {url}"), url=db.shown_url(db_url)), code="not_initialised")




@dataclass(frozen=True, slots=True)
class Initialised:
    keys: CenterKeys
    keys_created: bool
    admin_token: str | None  # a new token (also written to <home>/admin-token); None: the old one stays


async def migrate(db_url: str, pin_key: bytes | None = None) -> None:
    """The schema to the newest revision; ``pin_key`` hashes PINs stored before
    PINs were hashed (revision 0003)."""
    engine = db.make_engine(db_url)
    try:
        await db.run_migrations(engine, pin_key)
    finally:
        await engine.dispose()


async def initialise(home: Path, db_url: str, *, new_admin_token: bool = False, phone: str | None = None,
                     write_token_file: bool = True) -> Initialised:
    created, keys = init_keys(home)
    db.secure_files(db_url)
    await migrate(db_url, keys.pin_key)
    svc = CenterService(db.make_engine(db_url), keys, home, db_url)
    try:
        await svc.start()
        token = None
        if new_admin_token or not await svc.operators.has_admin_token():
            token = await svc.operators.set_admin_token()
            if write_token_file:
                atomic_write(home / "admin-token", (token + "\n").encode(), mode=0o600)
        if phone is not None:
            await svc.settings.set("phone_number", phone.strip())
    finally:
        await svc.close()
    return Initialised(keys, created, token)


async def _check_revision(engine: Any, db_url: str) -> None:
    """The schema at this licwiz's revision, else one line: behind (run ``licwiz
    center db upgrade``) or written by a newer licwiz. Never upgraded here:
    ``serve`` and the commands only check; ``init`` and ``db upgrade`` upgrade."""
    revision = await db.schema_revision(engine)
    if revision is None:
        raise not_initialised(db_url)
    problem = db.schema_problem(revision)
    if problem is not None:
        raise problem


async def require_schema(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        await _check_revision(engine, db_url)
    finally:
        await engine.dispose()


async def open_service(db_url: str, home: Path, **engine_kw: Any) -> CenterService:
    """A started service for one command; the caller closes it."""
    svc = CenterService.open(db_url, home, **engine_kw)
    try:
        await _check_revision(svc.engine, db_url)
    except LicwizError:
        await svc.close()
        raise
    await svc.start()
    return svc


def check_tls(cert: str | None, key: str | None) -> None:
    if bool(cert) != bool(key):
        raise LicwizError(Msg(N_("--tls-cert and --tls-key go together")), code="usage")
    for f in (cert, key):
        if f and not os.access(f, os.R_OK):
            raise LicwizError(Msg(N_("cannot read {path}"), path=f),
                              Msg(N_("the TLS certificate and key must be readable files")), code="usage")


def private_log(path: Path) -> None:
    """The request log as a file only its owner reads (created 0600 or tightened):
    it names client addresses and request ids."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def secure_at_rest(home: Path, db_url: str, log_file: str | None) -> None:
    """Tighten what an older version (or another umask) left readable: the home
    0700, the SQLite files and the log 0600."""
    if home.is_dir():  # keys from the environment may come with no home at all
        secure_home(home)
    db.secure_files(db_url)
    if log_file:
        private_log(Path(log_file))


class _Stopped(SystemExit):
    """SIGTERM, after uvicorn drained: the process ends with status 0."""


def _on_sigterm(signum: int, frame: Any) -> None:
    # uvicorn takes SIGTERM while it serves, drains, puts this handler back and
    # raises the signal again; the default action would end the process with
    # -15 after a clean stop. Before uvicorn listens there is nothing to drain.
    raise _Stopped(0)


METRICS_ADDRESS_ENV = "LICWIZ_CENTER_METRICS_ADDRESS"


def metrics_options(token_file: str | None, address: str | None) -> tuple[str | None, str | None]:
    """The metrics token file (checked, as an absolute path) and address; each
    from the command line, else from the environment (LICWIZ_CENTER_METRICS_TOKEN_FILE,
    LICWIZ_CENTER_METRICS_ADDRESS: a systemd EnvironmentFile can set them)."""
    from licwiz.service import metrics

    from .app import METRICS_TOKEN_ENV

    token_file = token_file or os.environ.get(METRICS_TOKEN_ENV) or None
    address = address or os.environ.get(METRICS_ADDRESS_ENV) or None
    try:
        if token_file:
            metrics.read_token_file(token_file)
            token_file = str(Path(token_file).resolve())
        if address:
            metrics.parse_address(address)
    except ValueError as exc:
        raise LicwizError(str(exc), code="usage") from None
    return token_file, address


def serve(*, home: Path, db_url: str, host: str, port: int, workers: int, log_file: str | None,
          tls_cert: str | None, tls_key: str | None, forwarded_allow_ips: str | None = None,
          metrics_token_file: str | None = None, metrics_address: str | None = None,
          banner: str | None = None) -> None:
    """Run until stopped (returns after SIGTERM). The caller has checked the keys
    and the schema. ``forwarded_allow_ips``: the proxies (comma-separated
    addresses or networks, uvicorn's syntax) whose X-Forwarded-For/-Proto are
    believed; None believes no one (the peer address is the client's).
    ``metrics_token_file``: /metrics on the service's address with this Bearer
    token; ``metrics_address``: /metrics on its own HOST:PORT (from this process,
    for every worker); neither: /metrics is 404 (service/metrics.py says why).
    ``banner``: logged (as JSON, like every other line) before uvicorn starts."""
    import uvicorn
    from licwiz.service import logs, metrics
    from prometheus_client.metrics_core import Metric

    from .app import METRICS_TOKEN_ENV, scrape_gauges

    token_file, address = metrics_options(metrics_token_file, metrics_address)
    secure_at_rest(home, db_url, log_file)
    # Before any worker starts: each one writes its values there (see service/metrics.py).
    multiproc = metrics.MultiprocDir() if workers > 1 else None
    if token_file:
        os.environ[METRICS_TOKEN_ENV] = token_file
    else:
        os.environ.pop(METRICS_TOKEN_ENV, None)

    async def gauges() -> list[Metric]:
        engine = db.make_engine(db_url, hide_parameters=True)
        try:
            return await scrape_gauges(engine)
        finally:
            await engine.dispose()

    try:
        listener = metrics.listen(address, metrics.CENTER, gauges) if address else None
    except ValueError as exc:
        if multiproc is not None:
            multiproc.close()
        raise LicwizError(str(exc), code="address_in_use") from None
    # Workers are separate processes: they read their configuration from the environment.
    os.environ["LICWIZ_CENTER_DB"] = db_url
    os.environ["LICWIZ_CENTER_HOME"] = str(home)
    if log_file:
        os.environ["LICWIZ_CENTER_LOG"] = str(Path(log_file).resolve())
    # One JSON line per record, ours and uvicorn's, in the supervisor and every
    # worker; SIGHUP reopens the access log instead of ending the process (with
    # workers, uvicorn's supervisor takes SIGHUP and replaces the workers: the
    # new ones open the log file again; service/logs.py).
    config = logs.log_config(str(Path(log_file).resolve()) if log_file else None)
    logs.configure_process(config)
    logs.reopen_on_sighup()
    if banner:
        logging.getLogger("licwiz.center").info("%s", banner)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, access_log=False,
                    log_config=config, log_level="info", timeout_graceful_shutdown=5,
                    ssl_certfile=tls_cert or None, ssl_keyfile=tls_key or None,
                    proxy_headers=bool(forwarded_allow_ips), forwarded_allow_ips=forwarded_allow_ips or None)
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if listener is not None:
            listener.shutdown()
        if multiproc is not None:
            multiproc.close()


def check_keys(home: Path) -> None:
    """Fail here, with a clear message, rather than in every worker."""
    load_keys(home)
