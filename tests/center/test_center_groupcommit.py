"""Group commit on SQLite (center/groupcommit.py): the write rules queued behind
the writer commit in one transaction, each still all-or-nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from licwiz.center import activation_sql as q
from licwiz.center import audit, db, refusals
from licwiz.center.bare import COUNT, Rule, Stmt
from licwiz.center.uow import UnitOfWork


def _write(dialect: str, rid: str, refuse: bool, gate: threading.Event | None) -> Rule[str]:
    if gate is not None:  # hold the writer until the others have queued behind it
        assert gate.wait(30)
    yield Stmt(q.INSERT_AUDIT, audit.row("issue", rid, None, None, None, None, None), COUNT)
    if refuse:  # after writing: its row must not stand
        raise refusals.pin_used()
    return rid


async def _scenario(path: Path) -> tuple[list[Any], int]:
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    await db.run_migrations(engine)
    uow = UnitOfWork(engine)
    gate = threading.Event()
    try:
        first = asyncio.create_task(uow.run_rule(_write, "r0", False, gate))
        rest = [asyncio.create_task(uow.run_rule(_write, f"r{i}", i % 3 == 0, None)) for i in range(1, 31)]
        deadline = time.monotonic() + 30
        while uow.group.queued < 30:  # all 30 behind r0, which holds the writer
            assert time.monotonic() < deadline, "the rules did not queue"
            await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        return results, uow.group.largest_batch
    finally:
        await uow.close()


def test_queued_rules_commit_together_and_a_refused_one_alone_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "center.db"
    results, largest = asyncio.run(_scenario(path))
    assert largest >= 30  # the 30 queued behind the first went in one transaction
    refused = [f"r{i}" for i in range(31) if i and i % 3 == 0]
    for i, res in enumerate(results):
        if f"r{i}" in refused:
            assert isinstance(res, refusals.Refusal) and res.code == "pin_used", res
        else:
            assert res == f"r{i}"
    stored = {r[0] for r in sqlite3.connect(path).execute("SELECT request_id FROM audit")}
    assert stored == {f"r{i}" for i in range(31)} - set(refused)
