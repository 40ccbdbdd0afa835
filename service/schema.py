"""The schema state of a service's database, kept by Alembic: the one
implementation both services use (center/db.py and server/db.py wrap it).

A ``Schema`` is one service's migrations: its folder, its version table, the
command an operator runs to upgrade, and how that service builds its error
(the center's ``LicwizError`` with code ``schema``, the server's
``SchemaError``; both say one line, never Alembic's traceback). The lines a
person reads are the same for both, except those the service words itself
(``missing``, ``unprintable``).

Alembic is imported inside the functions: a command that never touches the
schema does not pay for it at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

E = TypeVar("E", bound=Exception)


@dataclass(frozen=True, slots=True)
class Schema(Generic[E]):
    """One service's migrations and the words of its schema errors.

    ``error`` builds the service's exception from a line; ``missing`` (an
    ``N_`` text) says there is no schema yet; ``unprintable`` (an ``N_`` text
    with ``{at}`` and ``{command}``), where given, says that a revision
    changes data with what it reads and so cannot be printed as SQL (without
    it, that failure is the migration's own)."""

    folder: Path
    upgrade_command: str
    error: Callable[[Msg], E]
    missing: str
    unprintable: str | None = None
    version_table: str = "alembic_version"

    def config(self) -> Any:
        """A fresh Alembic config (a run keeps its connection in the attributes)."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(self.folder))
        return cfg

    def head(self) -> str:
        """The newest revision this code knows."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self.config()).get_current_head()
        if head is None:  # a packaging fault: the migrations folder lost its revisions
            raise RuntimeError(f"no Alembic revisions in {self.folder}")
        return str(head)

    def known(self) -> set[str]:
        from alembic.script import ScriptDirectory

        return {s.revision for s in ScriptDirectory.from_config(self.config()).walk_revisions()}

    def newer(self, revision: str) -> E:
        return self.error(Msg(N_("this database was written by a newer licwiz (revision {revision})"),
                              revision=revision))

    def behind(self, revision: str, head: str) -> E:
        return self.error(Msg(N_("the database schema is at revision {revision}, this licwiz needs {head}: "
                                 "run `{command}`"),
                              revision=revision, head=head, command=self.upgrade_command))

    def problem(self, revision: str | None) -> E | None:
        """Why ``serve`` must not start on a schema at ``revision`` (None: no
        schema is not this function's business; at head: None). One line each."""
        head = self.head()
        if revision is None or revision == head:
            return None
        if revision not in self.known():
            return self.newer(revision)
        return self.behind(revision, head)

    async def revision(self, engine: AsyncEngine) -> str | None:
        """The schema's revision; None when the database is not set up."""
        async with engine.connect() as conn:
            try:
                row = (await conn.execute(sa.text(f"SELECT version_num FROM {self.version_table}"))).first()
            except sa.exc.DBAPIError:
                return None
            return str(row[0]) if row else None

    async def upgrade(self, engine: AsyncEngine, **attributes: Any) -> None:
        """Bring the schema to the head (idempotent); ``attributes`` reach the
        revisions (``context.config.attributes``). A revision this code does not
        know (a newer licwiz wrote the database) is ``newer``, not a traceback."""
        from alembic import command

        revision = await self.revision(engine)
        if revision is not None and revision not in self.known():
            raise self.newer(revision)
        cfg = self.config()

        def _upgrade(sync_conn: Any) -> None:
            cfg.attributes["connection"] = sync_conn
            cfg.attributes.update(attributes)
            command.upgrade(cfg, "head")

        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def upgrade_sql(self, engine: AsyncEngine) -> str:
        """The SQL ``upgrade`` would run on this database, for a DBA (Alembic's
        offline mode: nothing is executed); "" when at head."""
        from alembic import command

        revision = await self.revision(engine)
        if revision is None:
            raise self.error(Msg(self.missing))
        if revision not in self.known():
            raise self.newer(revision)
        if revision == self.head():
            return ""
        out = io.StringIO()
        cfg = self.config()
        cfg.output_buffer = out

        def _print(sync_conn: Any) -> None:
            # With sql=True Alembic renders to the buffer; the connection only names the dialect.
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, f"{revision}:head", sql=True)

        async with engine.connect() as conn:
            try:
                await conn.run_sync(_print)
            except Exception as exc:  # a data migration needs the live database
                if self.unprintable is None:
                    raise
                done = [line for line in out.getvalue().splitlines() if line.startswith("-- Running upgrade")]
                at = done[-1].removeprefix("-- Running upgrade ") if done else f"{revision} -> ..."
                raise self.error(Msg(self.unprintable, at=at, command=self.upgrade_command)) from exc
        return out.getvalue()
