"""The center's tunable settings (table ``settings``; ``licwiz center config set``).

Read once at start (``load``) into ``values``; the throttle and the web page
read them from there. ``admin_token_hash`` lives in the same table but is not
a setting an operator types (center/operators.py writes it).
"""

from __future__ import annotations

import sqlalchemy as sa
from licwiz.core.errors import InputError
from licwiz.core.i18n import LANGUAGES, N_
from licwiz.core.message import Msg

from . import db
from .uow import UnitOfWork

DEFAULTS: dict[str, str] = {
    "phone_number": "",
    "kit_max_failures": "5",  # wrong PINs for one registration number before it locks
    "lock_seconds": "60",  # first lock; each further lock doubles, up to a day
    "addr_max_failures": "50",  # wrong PINs / unknown kits from one address per window
    "addr_window_seconds": "600",
    "email": "",  # the license desk's address: shown on the web page, From of 'licwiz center mail'
    "mail_max_per_hour": "20",  # messages answered per sender and hour by 'licwiz center mail'
    "language": "en",  # replies of 'licwiz center mail' to a message that asks for none (en, ru)
    "operator_session_seconds": "28800",  # operator console session lifetime, absolute (operators.py)
}
INTERNAL = ("admin_token_hash",)


def is_address(value: str) -> bool:
    """A plain address (local@domain): it is shown on pages and used as a From."""
    local, at, domain = value.rpartition("@")
    return (bool(at and local and "." in domain.strip(".")) and len(value) <= 254 and value.isascii()
            and value.isprintable() and not any(c in value for c in ' <>"(),;:[]\\'))


class Settings:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.values: dict[str, str] = dict(DEFAULTS)

    async def load(self) -> None:
        self.values = {**DEFAULTS, **await self.stored()}

    async def stored(self) -> dict[str, str]:
        """What the table holds now (other processes may have changed it)."""
        async with self.uow.engine.connect() as conn:
            rows = (await conn.execute(sa.select(db.settings))).all()
        return {r.key: r.value for r in rows}

    async def set(self, key: str, value: str) -> None:
        if key not in DEFAULTS and key not in INTERNAL:
            raise InputError("setting", Msg(N_("unknown setting {key}"), key=repr(key)),
                             Msg(N_("known settings: {names}"), names=", ".join(sorted(DEFAULTS))))
        if key in DEFAULTS and DEFAULTS[key].isdigit() and not value.isdigit():
            raise InputError("setting", Msg(N_("{key}: expected a whole number, got {value}"),
                                            key=key, value=repr(value)))
        if key == "email" and value and not is_address(value):
            raise InputError("setting", Msg(N_("email: expected an e-mail address such as "
                                               "licenses@vendor.example, got {value}"),
                                            value=repr(value[:100])))
        if key == "language" and value not in LANGUAGES:
            raise InputError("setting", Msg(N_("language: expected one of {choices}, got {value}"),
                                            choices=", ".join(LANGUAGES), value=repr(value[:20])))
        async with self.uow.writer.begin() as conn:
            done = await conn.execute(
                db.settings.update().where(db.settings.c.key == key).values(value=value))
            if done.rowcount == 0:
                await conn.execute(db.settings.insert().values(key=key, value=value))
        self.values[key] = value

    def number(self, key: str) -> int:
        return int(self.values.get(key) or DEFAULTS[key])

    async def phone_number(self) -> str:
        return (await self.stored()).get("phone_number", "")

    @property
    def phone_number_cached(self) -> str:
        """The value read at start."""
        return self.values.get("phone_number", "")

    async def shown(self) -> dict[str, str]:
        """The settings an operator sets: what is stored, over the defaults."""
        return {**DEFAULTS, **{k: v for k, v in (await self.stored()).items() if k in DEFAULTS}}
