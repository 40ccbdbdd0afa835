"""Operator console sessions are server-side (issue 11 point 5).

The console cookie used to carry the operator token itself (base64, with an
expiry and an HMAC), and logout only asked the browser to delete it: a cookie
captured before logout opened the console afterwards, from any worker, until
its 8 hours ran out. Now the cookie holds a random session id, the database
its hash and expiry, and every request looks the session up, so logout,
``operator disable`` and expiry end it for every serve process.

Real ``center serve`` processes (two of them on one database, one with
``--workers 2``), real SQLite and PostgreSQL, httpx with cookies; a "captured"
cookie is replayed by hand on fresh connections, as an attacker would, not
through a cookie jar that might drop it by itself.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from support.fixtures_center import CenterProcess
from support.tls import self_signed

COOKIE = "licwiz_operator"
LOGIN_PAGE = "Operator token"


# ---- helpers

def _db(db_url: str, sql: str, **params: Any) -> list[Any]:
    """One statement on the center's database, as a second program would run it."""
    async def run() -> list[Any]:
        engine = create_async_engine(db_url)
        try:
            async with engine.begin() as conn:
                res = await conn.execute(sa.text(sql), params)
                return list(res.all()) if res.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _add_operator(center: CenterProcess, name: str) -> str:
    return str(center.cli("operator", "add", name).stdout.strip().split()[-1])


def _login(url: str, token: str, verify: Any = True) -> tuple[httpx.Client, str, httpx.Response]:
    """A logged-in client, the session cookie's value and the login answer."""
    c = httpx.Client(base_url=url, timeout=30, verify=verify)
    r = c.post("/operator/login", data={"token": token})
    assert r.status_code == 303, r.text
    value = c.cookies.get(COOKIE)
    assert value, r.headers
    return c, value, r


def _replay(url: str, value: str, method: str = "GET", verify: Any = True, **kw: Any) -> httpx.Response:
    """The captured cookie sent by hand on a new connection (a new client each time, so
    ``--workers 2`` hands the connections to either worker)."""
    with httpx.Client(base_url=url, timeout=30, verify=verify,
                      headers={"Cookie": f"{COOKIE}={value}"}) as c:
        return c.request(method, "/operator", **kw)


def _opens(url: str, value: str, name: str) -> bool:
    r = _replay(url, value)
    assert r.status_code == 200, r.text
    if f"Operator {name}" in r.text:
        return True
    assert LOGIN_PAGE in r.text, r.text
    return False


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, page
    return m.group(1)


def _second_process(center: CenterProcess) -> CenterProcess:
    """Another ``center serve`` on the same home and database (its own port): the shape of
    two hosts behind a load balancer, and of two workers, without guessing which worker
    took a connection."""
    other = copy.copy(center)
    other.proc = None
    other.workers = 1
    return other.start()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_centers(
        request: pytest.FixtureRequest, center_factory: Callable[..., CenterProcess],
) -> Iterator[tuple[CenterProcess, CenterProcess]]:
    db_url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    first = center_factory(db_url=db_url, workers=2)
    second = _second_process(first)
    try:
        yield first, second
    finally:
        second.stop()


# ---- the tests

def test_a_cookie_captured_before_logout_is_refused_after_it_on_every_process(
        two_centers: tuple[CenterProcess, CenterProcess]) -> None:
    a, b = two_centers
    token = _add_operator(a, "erin")
    c, captured, _ = _login(a.url, token)
    page = c.get("/operator").text
    csrf = _csrf(page)
    # The session is the database's: the other process (and both workers of this one) accept it.
    assert all(_opens(u, captured, "erin") for u in (a.url, b.url) for _ in range(3))
    # CSRF and origin checks still hold: a logout without the form token, or from another
    # site, ends nothing.
    c.post("/operator/logout", data={"csrf": "0" * 64})
    c.post("/operator/logout", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert _opens(b.url, captured, "erin")
    # The real logout, on process A.
    r = c.post("/operator/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert LOGIN_PAGE in c.get("/operator").text
    # The captured cookie opens nothing any more, on either process, on fresh connections.
    for url in (a.url, b.url):
        for _ in range(6):
            assert not _opens(url, captured, "erin")
        post = _replay(url, captured, "POST", data={"csrf": csrf, "row1": "1"})
        assert post.status_code == 401 and "session has ended" in post.text, post.text
    # The operator may log in again: a new session with a new id.
    c2, again, _ = _login(b.url, token)
    assert again != captured and _opens(a.url, again, "erin")
    c.close()
    c2.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_disabling_the_operator_ends_their_live_session_for_good(
        backend: str, request: pytest.FixtureRequest, center_factory: Callable[..., CenterProcess]) -> None:
    center = center_factory(db_url=request.getfixturevalue("pg_url") if backend == "postgres" else None,
                            workers=2)
    token = _add_operator(center, "frank")
    _, live, _ = _login(center.url, token)
    _, other_live, _ = _login(center.url, _add_operator(center, "grace"))
    assert _opens(center.url, live, "frank")
    center.cli("operator", "disable", "frank")  # another process: the command line
    assert not _opens(center.url, live, "frank")
    assert _opens(center.url, other_live, "grace")  # only frank's sessions ended
    ended = _db(center.db_url, "SELECT ended FROM operator_sessions WHERE operator = 'frank'")
    assert ended and all(row[0] is not None for row in ended)
    # Re-enabling the operator (as an admin restoring the row would) does not bring the
    # captured session back: it ended when the operator was disabled; the token logs in anew.
    _db(center.db_url, "UPDATE operators SET disabled = :no WHERE name = 'frank'", no=False)
    _, fresh, _ = _login(center.url, token)
    assert _opens(center.url, fresh, "frank")
    assert not _opens(center.url, live, "frank")


def test_an_expired_session_is_refused(center_factory: Callable[..., CenterProcess]) -> None:
    center = center_factory(start=False)
    center.cli("config", "set", "operator_session_seconds", "3600")  # the setting the README names
    center.start()
    token = _add_operator(center, "heidi")
    _, value, r = _login(center.url, token)
    assert "max-age=3600" in r.headers["set-cookie"].lower()
    (created, expires), = _db(center.db_url, "SELECT created, expires FROM operator_sessions")
    # SQLite hands raw text back to a plain SELECT
    created, expires = (dt.datetime.fromisoformat(str(v)) for v in (created, expires))
    assert (expires - created).total_seconds() == 3600
    assert _opens(center.url, value, "heidi")
    # The hour passes (the server's clock is the database's expiry, not the browser's Max-Age).
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    _db(center.db_url, "UPDATE operator_sessions SET expires = :past", past=past)
    assert not _opens(center.url, value, "heidi")
    post = _replay(center.url, value, "POST", data={"row1": "1"})
    assert post.status_code == 401 and "session has ended" in post.text
    # An expired row is cleared at the next login; the token still logs in.
    _, fresh, _ = _login(center.url, token)
    assert _opens(center.url, fresh, "heidi")
    assert len(_db(center.db_url, "SELECT id_hash FROM operator_sessions")) == 1


def test_the_session_lifetime_setting_is_held_between_a_minute_and_a_week() -> None:
    from licwiz.center.operators import session_seconds

    assert session_seconds({}) == 8 * 3600
    assert session_seconds({"operator_session_seconds": "3600"}) == 3600
    assert session_seconds({"operator_session_seconds": "5"}) == 60
    assert session_seconds({"operator_session_seconds": str(10**12)}) == 7 * 24 * 3600
    assert session_seconds({"operator_session_seconds": "soon"}) == 8 * 3600


def _token_forms(token: str) -> list[str]:
    raw = token.encode()
    return [token, base64.urlsafe_b64encode(raw).decode().rstrip("="),
            base64.b64encode(raw).decode().rstrip("="), raw.hex()]


def test_the_cookie_never_carries_the_operator_token(center_factory: Callable[..., CenterProcess],
                                                      tmp_path: Path) -> None:
    center = center_factory()
    token = _add_operator(center, "ivan")
    _, value, r = _login(center.url, token)
    assert value != token
    assert not any(form in value for form in _token_forms(token)), value
    attrs = r.headers["set-cookie"].lower()
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/operator" in attrs
    assert "secure" not in attrs  # plain HTTP: a Secure cookie would never come back
    # A forged or old-format cookie opens nothing and breaks nothing.
    for bad in ("x" * 43, f"{base64.urlsafe_b64encode(token.encode()).decode()}.9999999999.00", "x" * 5000):
        assert not _opens(center.url, bad, "ivan")
    # Over HTTPS the cookie is Secure too.
    cert, key = self_signed(tmp_path)
    tls = center_factory(start=False).start(tls=(cert, key))
    tls_token = _add_operator(tls, "judy")
    _, tls_value, r = _login(tls.url, tls_token, verify=tls.verify)
    assert "; secure" in r.headers["set-cookie"].lower()
    assert not any(form in tls_value for form in _token_forms(tls_token))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_session_table_stores_no_raw_session_id(
        backend: str, request: pytest.FixtureRequest, center_factory: Callable[..., CenterProcess]) -> None:
    center = center_factory(db_url=request.getfixturevalue("pg_url") if backend == "postgres" else None)
    token = _add_operator(center, "kim")
    ids = [_login(center.url, token)[1] for _ in range(3)]
    rows = _db(center.db_url, "SELECT * FROM operator_sessions")
    assert len(rows) == 3
    dumped = " ".join(str(v) for row in rows for v in row)
    for sid in ids:
        assert sid not in dumped and token not in dumped
    assert all(re.fullmatch(r"[0-9a-f]{64}", row.id_hash) for row in rows)
    if backend == "sqlite":  # the file itself (and its write-ahead log), byte for byte
        path = Path(center.db_url.split("///", 1)[1])
        blob = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        for sid in ids:
            assert sid.encode() not in blob
        assert token.encode() not in blob
