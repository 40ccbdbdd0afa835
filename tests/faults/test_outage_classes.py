"""service/outage.py on the real failures of the real drivers (no fakes): which
ones are "the database cannot be reached now" (503 unavailable + Retry-After)
and which are bugs (500 internal), and how ``ErrorHandler`` answers each."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from faults.pgcluster import PrivateCluster, free_port
from licwiz.service.errors import ApiError, ErrorHandler
from licwiz.service.outage import RETRY_AFTER, describe, is_outage
from sqlalchemy.ext.asyncio import create_async_engine


def _raised(fn: object) -> BaseException:
    try:
        if asyncio.iscoroutine(fn):
            asyncio.run(fn)
        else:
            fn()  # type: ignore[operator]
    except BaseException as exc:  # what the driver raised, whatever it is
        return exc
    raise AssertionError("nothing was raised")


async def _sa_select(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()


def test_connecting_to_a_closed_port_is_an_outage_raw_and_through_sqlalchemy() -> None:
    port = free_port()  # nothing listens there
    raw = _raised(asyncpg.connect(host="127.0.0.1", port=port, user="postgres", timeout=5))
    via_sa = _raised(_sa_select(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"))
    # SQLAlchemy passes the socket error of connecting through untranslated: the
    # reason the center answered 500 before.
    assert isinstance(via_sa, ConnectionRefusedError)
    assert is_outage(raw) and is_outage(via_sa)
    assert "ConnectionRefusedError(ECONNREFUSED)" in describe(via_sa)


def test_postgresql_stopping_under_open_connections_and_too_many_connections(pg: PrivateCluster) -> None:
    url = pg.create_database("classes")

    async def scenario() -> list[BaseException]:
        got: list[BaseException] = []
        engine = create_async_engine(url, pool_size=2)
        pool = await asyncpg.create_pool(url.replace("+asyncpg", ""), min_size=1, max_size=1)
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        await asyncio.to_thread(pg.stop)
        for _ in range(2):  # first a pooled connection that died, then a new one refused
            try:
                async with engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            except Exception as exc:
                got.append(exc)
        try:
            async with pool.acquire() as con:
                await con.fetch("SELECT 1")
        except Exception as exc:
            got.append(exc)
        pool.terminate()
        await engine.dispose()
        await asyncio.to_thread(pg.start)
        # Every connection slot taken: PostgreSQL refuses the next one (SQLSTATE 53300).
        held = []
        try:
            for _ in range(200):
                held.append(await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5))
        except Exception as exc:
            got.append(exc)
        finally:
            for c in held:
                await c.close()
        return got

    got = asyncio.run(scenario())
    assert len(got) == 4, got
    assert all(is_outage(e) for e in got), [describe(e) for e in got]
    assert isinstance(got[0], sa.exc.DBAPIError) and got[0].connection_invalidated
    assert type(got[-1]).__name__ == "TooManyConnectionsError"


def test_sqlite_locked_past_its_timeout_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        waiter = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        raw = _raised(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
        with engine.connect() as conn:
            via_sa = _raised(lambda: conn.execute(sa.text("INSERT INTO t VALUES (1)")))
        engine.dispose()
        waiter.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(raw, sqlite3.OperationalError) and isinstance(via_sa, sa.exc.OperationalError)
    assert is_outage(raw) and is_outage(via_sa)
    assert "SQLITE_BUSY" in describe(via_sa)


def test_bugs_and_site_problems_are_not_outages(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("CREATE TABLE t (x INTEGER UNIQUE)")
    conn.execute("INSERT INTO t VALUES (1)")
    no_table = _raised(lambda: conn.execute("SELECT * FROM missing"))
    duplicate = _raised(lambda: conn.execute("INSERT INTO t VALUES (1)"))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.connect() as c:
        via_sa = _raised(lambda: c.execute(sa.text("SELECT * FROM missing")))
    engine.dispose()
    missing_key_file = _raised(lambda: (tmp_path / "nope.pem").read_bytes())
    key_error = _raised(lambda: {}["x"])

    def bug_while_handling_an_outage() -> None:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError:
            {}["x"]  # the bug, in an except block

    in_handler = _raised(bug_while_handling_an_outage)
    for exc in (no_table, duplicate, via_sa, missing_key_file, key_error, in_handler):
        assert not is_outage(exc), describe(exc)


class _Scope:
    def __init__(self) -> None:
        self.scope: dict[str, object] = {"type": "http", "state": {}}


def _handler(log: io.StringIO) -> ErrorHandler:
    return ErrorHandler(
        name="svc", request_id=lambda request: "rid-1", licwiz_status=400, id_header=True, log=log,
        unavailable=lambda: ApiError("unavailable", "busy", "later", status=503),
        internal=lambda: ApiError("internal", "failed", "support", status=500),
    )


Answer = tuple[int, dict[str, str], dict[str, object]]


async def _guarded_answer(handler: ErrorHandler, exc: BaseException) -> Answer:
    async def endpoint(request: _Scope) -> object:
        raise exc

    response = await handler.guard(endpoint)(_Scope())  # type: ignore[arg-type]
    body = json.loads(bytes(response.body))
    return response.status_code, dict(response.headers), body["error"]


def test_the_handler_answers_an_outage_503_with_retry_after_and_a_bug_500() -> None:
    log = io.StringIO()
    handler = _handler(log)
    refused = _raised(asyncpg.connect(host="127.0.0.1", port=free_port(), user="postgres", timeout=5))
    status, headers, err = asyncio.run(_guarded_answer(handler, refused))
    assert (status, err["code"], err["request_id"]) == (503, "unavailable", "rid-1")
    assert headers["retry-after"] == str(RETRY_AFTER) and headers["x-request-id"] == "rid-1"
    status, headers, err = asyncio.run(_guarded_answer(handler, KeyError("x")))
    assert (status, err["code"]) == (500, "internal") and "retry-after" not in headers
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("svc: database unavailable: ConnectionRefusedError") and "rid-1" in lines[0]
    assert lines[1].startswith("svc: internal error KeyError at ") and "rid-1" in lines[1]


def test_a_hook_failing_on_an_outage_answers_503_not_a_traceback() -> None:
    """``on_error`` (the center's audit of a refusal) meeting the database down."""
    handler = _handler(io.StringIO())

    async def endpoint(request: _Scope) -> object:
        raise ApiError("bad_json", "not JSON", status=400)

    async def hook(request: _Scope, rid: str, exc: object) -> None:
        await asyncpg.connect(host="127.0.0.1", port=free_port(), user="postgres", timeout=5)

    response = asyncio.run(handler.guard(endpoint, hook)(_Scope()))  # type: ignore[arg-type]
    assert response.status_code == 503 and response.headers["retry-after"] == str(RETRY_AFTER)


@pytest.mark.parametrize("status", [503, 500, 409])
def test_retry_after_goes_with_503_only(status: int) -> None:
    handler = _handler(io.StringIO())
    response = handler.respond(_Scope(), "rid", ApiError("x", "y", status=status))
    assert ("retry-after" in response.headers) == (status == 503)
