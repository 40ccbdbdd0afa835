"""``CenterService``: the one object the routes, the CLI and the tests pass
around. It opens the database and the keys and holds the center's services,
one per aggregate; the rules live in those modules, not here:

- ``svc.activations`` (center/activation.py): check, activate, request files;
- ``svc.kits`` (center/kits.py): kits and their licenses, admin side;
- ``svc.operators`` (center/operators.py): admin token, phone operators;
- ``svc.settings`` (center/settings.py), ``svc.audit`` (center/audit.py),
  ``svc.throttle`` (center/throttle.py);
- ``svc.uow`` (center/uow.py): the unit of work they all run on.

Usage::

    svc = CenterService.open(db_url, home)      # engine + keys; no I/O to the DB yet
    await svc.start()                           # reads settings (throttle limits, phone number)
    act = await svc.activate(req, method="phone", idempotency_key=None,
                             request_id=rid, client_addr="1.2.3.4", actor="operator:alice")
    await svc.kits.create("product", users=5, pins=3)
    await svc.close()

The activation calls are also methods of the facade (``check``, ``activate``,
``activate_request_file``): they are what every front end calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from licwiz.core.request import ActivationRequest
from sqlalchemy.ext.asyncio import AsyncEngine

from . import db
from .activation import Activation, Activations
from .audit import Audit
from .keystore import CenterKeys, LiveKeys, load_keys, public_listing
from .kits import Kits
from .operators import Operators
from .settings import Settings
from .throttle import Throttle
from .uow import UnitOfWork


class CenterService:
    def __init__(self, engine: AsyncEngine, keys: CenterKeys, home: Path, db_url: str = "") -> None:
        # The keys as <home>/keys/state.json says now: a staged rotation step
        # (keys activate, keys retire) reaches a serving worker within a second.
        self.live_keys = LiveKeys(home, keys)
        self.home = home
        self.db_url = db_url
        self.uow = UnitOfWork(engine)
        self.settings = Settings(self.uow)
        self.audit = Audit(self.uow)
        self.throttle = Throttle(self.uow, self.settings)
        self.operators = Operators(self.uow, self.settings)
        self.kits = Kits(self.uow, keys)  # the PIN key only, which does not rotate
        self.activations = Activations(self.uow, self.live_keys.get, self.throttle)

    @classmethod
    def open(cls, db_url: str, home: Path, **engine_kw: Any) -> CenterService:
        return cls(db.make_engine(db_url, hide_parameters=True, **engine_kw), load_keys(home), home, db_url)

    @property
    def keys(self) -> CenterKeys:
        """The keys now (one snapshot: read it once per use)."""
        return self.live_keys.get()

    @property
    def engine(self) -> AsyncEngine:
        return self.uow.engine

    async def start(self) -> None:
        await self.settings.load()

    async def close(self) -> None:
        await self.uow.close()

    # ---- what every front end calls

    async def check(self, req: ActivationRequest, *, method: str = "online", client_addr: str = "",
                    request_id: str = "", actor: str | None = None) -> dict[str, Any]:
        return await self.activations.check(req, method=method, client_addr=client_addr,
                                            request_id=request_id, actor=actor)

    async def activate(self, req: ActivationRequest, *, method: str = "online",
                       idempotency_key: str | None = None, request_id: str, client_addr: str = "",
                       actor: str | None = None) -> Activation:
        return await self.activations.activate(req, method=method, idempotency_key=idempotency_key,
                                               request_id=request_id, client_addr=client_addr, actor=actor)

    async def activate_request_file(self, text: str, *, idempotency_key: str | None = None,
                                    request_id: str, client_addr: str = "", actor: str | None = None,
                                    ) -> Activation:
        return await self.activations.activate_request_file(
            text, idempotency_key=idempotency_key, request_id=request_id, client_addr=client_addr,
            actor=actor)

    # ---- what the pages show

    @property
    def phone_number_cached(self) -> str:
        """The activation desk's phone number as read at start ("" when not configured)."""
        return self.settings.phone_number_cached

    async def phone_number(self) -> str:
        return await self.settings.phone_number()

    def public_keys(self) -> dict[str, Any]:
        """GET /api/v1/keys: the published keys (next, current, previous), current first."""
        return public_listing(self.keys)
