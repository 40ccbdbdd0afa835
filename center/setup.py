"""Setting a center up and starting it: what ``licwiz center init|serve`` and
the embedded center (center/embedded.py) do, apart from their words.

- ``initialise(home, db_url, ...)``: key pairs, schema at the newest Alembic
  revision, an admin token when there is none (or a new one on request), the
  phone number; idempotent.
- ``open_service(db_url, home)``: a started ``CenterService`` on a database that
  is set up (``not_initialised`` otherwise).
- ``serve(...)``: uvicorn with ``--workers`` processes; each worker builds its
  app with ``center.app.app_from_env`` from the environment set here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from licwiz.core.errors import LicwizError
from licwiz.core.storage import atomic_write

from . import db
from .keystore import CenterKeys, init_keys, load_keys
from .service import CenterService

APP_FACTORY = "licwiz.center.app:app_from_env"  # what uvicorn's worker processes import


def not_initialised(db_url: str) -> LicwizError:
    return LicwizError("The Licensing Center database is not set up; run 'licwiz center init'",
                       f"no schema in {db_url}", code="not_initialised")


@dataclass(frozen=True, slots=True)
class Initialised:
    keys: CenterKeys
    keys_created: bool
    admin_token: str | None  # a new token (also written to <home>/admin-token); None: the old one stays


async def migrate(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        await db.run_migrations(engine)
    finally:
        await engine.dispose()


async def initialise(home: Path, db_url: str, *, new_admin_token: bool = False, phone: str | None = None,
                     write_token_file: bool = True) -> Initialised:
    created, keys = init_keys(home)
    await migrate(db_url)
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


async def require_schema(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        if await db.schema_revision(engine) is None:
            raise not_initialised(db_url)
    finally:
        await engine.dispose()


async def open_service(db_url: str, home: Path, **engine_kw: Any) -> CenterService:
    """A started service for one command; the caller closes it."""
    svc = CenterService.open(db_url, home, **engine_kw)
    if await db.schema_revision(svc.engine) is None:
        await svc.close()
        raise not_initialised(db_url)
    await svc.start()
    return svc


def check_tls(cert: str | None, key: str | None) -> None:
    if bool(cert) != bool(key):
        raise LicwizError("--tls-cert and --tls-key go together", code="usage")
    for f in (cert, key):
        if f and not os.access(f, os.R_OK):
            raise LicwizError(f"cannot read {f}", "the TLS certificate and key must be readable files",
                              code="usage")


def serve(*, home: Path, db_url: str, host: str, port: int, workers: int, log_file: str | None,
          tls_cert: str | None, tls_key: str | None) -> None:
    """Run until stopped. The caller has checked the keys and the schema."""
    import uvicorn

    # Workers are separate processes: they read their configuration from the environment.
    os.environ["LICWIZ_CENTER_DB"] = db_url
    os.environ["LICWIZ_CENTER_HOME"] = str(home)
    if log_file:
        os.environ["LICWIZ_CENTER_LOG"] = str(Path(log_file).resolve())
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, access_log=False,
                log_level="warning", timeout_graceful_shutdown=5, ssl_certfile=tls_cert or None,
                ssl_keyfile=tls_key or None)


def check_keys(home: Path) -> None:
    """Fail here, with a clear message, rather than in every worker."""
    load_keys(home)
