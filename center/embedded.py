"""An in-process Licensing Center for ``licwiz demo`` and tests.

    with EmbeddedCenter(home) as c:          # init (SQLite + keys in home), serve on 127.0.0.1:<free>
        c.url                                # http://127.0.0.1:PORT
        c.trusted_keys_dir                   # public PEMs: point LICWIZ_TRUSTED_KEYS here
        kit = c.create_kit(users=5, pins=3, product="licwiz-demo")
        kit.regnum, kit.single_pins, kit.multi_pins
        c.service                            # the CenterService (call it via c.call(coro))

uvicorn runs in a background thread with its own event loop; ``stop()`` (or
leaving the ``with``) shuts it down cleanly.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg

from . import db
from .app import create_app
from .keystore import init_keys
from .kits import KitInfo
from .service import CenterService
from .setup import migrate, private_log

T = TypeVar("T")


class EmbeddedCenter:
    def __init__(self, home: Path, *, phone: str | None = None, db_url: str | None = None,
                 log_file: Path | None = None) -> None:
        self.home = Path(home)
        self.db_url = db.normalise_url(db_url) if db_url else f"sqlite+aiosqlite:///{self.home / 'center.db'}"
        self.phone = phone
        self.log_file = Path(log_file) if log_file else self.home / "requests.log"
        self.trusted_keys_dir = self.home / "public"
        self.url = ""
        self.port = 0
        self.service: CenterService | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._log: Any = None
        self._error: BaseException | None = None

    def __enter__(self) -> EmbeddedCenter:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> EmbeddedCenter:
        _, keys = init_keys(self.home)  # the home 0700, the keys 0600
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        ready = threading.Event()
        private_log(self.log_file)
        self._log = self.log_file.open("a", buffering=1, encoding="utf-8")
        pin_key = keys.pin_key

        async def _main() -> None:
            await migrate(self.db_url, pin_key)
            svc = CenterService.open(self.db_url, self.home)
            self.service = svc
            await svc.start()
            if not await svc.operators.has_admin_token():
                await svc.operators.set_admin_token()
            if self.phone is not None:
                await svc.settings.set("phone_number", self.phone)
            # proxy_headers off: a local client must not pick its address with X-Forwarded-For.
            config = uvicorn.Config(create_app(svc, log_stream=self._log), log_level="warning",
                                    access_log=False, lifespan="on", proxy_headers=False)
            self._server = uvicorn.Server(config)
            self._loop = asyncio.get_running_loop()
            ready.set()
            await self._server.serve(sockets=[sock])

        def _run() -> None:
            try:
                asyncio.run(_main())
            except BaseException as exc:  # reported to the caller of start()
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=_run, name="licwiz-embedded-center", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if self._error is not None:
            raise LicwizError(Msg(N_("The embedded Licensing Center did not start")), repr(self._error))
        assert self._server is not None
        waited = 0.0
        while not self._server.started and waited < timeout:
            if self._error is not None or not self._thread.is_alive():
                raise LicwizError(Msg(N_("The embedded Licensing Center did not start")), repr(self._error))
            threading.Event().wait(0.02)
            waited += 0.02
        del keys
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine (e.g. a CenterService call) on the server's event loop."""
        assert self._loop is not None, "not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def create_kit(self, users: int = 1, pins: int = 3, product: str = "licwiz-demo") -> KitInfo:
        assert self.service is not None, "not started"
        return self.call(self.service.kits.create(product, users, pins, 1, request_id="embedded"))[0]

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._server = None
