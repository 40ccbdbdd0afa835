"""Whether a failure means "the database cannot be reached now": the one place
both services classify it, by exception type (never by message text).

Such a failure is answered 503 ``unavailable`` with Retry-After, because the
same call succeeds once the database is back; anything else unexpected is a
bug, answered 500 ``internal`` and logged with its place in the code.

Why a chain walk: the database layers wrap and pass errors on unevenly.
SQLAlchemy wraps a driver error (``DBAPIError.orig``, with the driver's own
exception as its ``__cause__``) and marks one that lost the connection
(``connection_invalidated``); but its asyncpg adapter passes the socket
errors of CONNECTING through untranslated (``ConnectionRefusedError`` while
PostgreSQL is down), and asyncpg's own errors of connecting
(``CannotConnectNowError`` while it starts or stops, ``TooManyConnectionsError``)
come raw too; the license server's seat store uses asyncpg and sqlite3 raw.

An outage is, anywhere in the chain:
- a socket failure: ``ConnectionError`` (refused, reset, aborted, broken
  pipe), ``TimeoutError`` (asyncio's too), ``socket.gaierror``, or an OSError
  whose errno says the network or host is unreachable or down. File errors
  (``PermissionError``, ``FileNotFoundError`` of a key file) are not: they
  are the site's set-up, not a passing outage;
- PostgreSQL (asyncpg): connection exceptions (SQLSTATE class 08),
  insufficient resources (53: too many connections, out of memory or disk),
  operator intervention (57: shutting down, starting up, statement timeout
  or cancel);
- SQLAlchemy: a connection it invalidated, a pool checkout that timed out
  (every connection busy), ``DisconnectionError``;
- SQLite: ``SQLITE_BUSY`` / ``SQLITE_LOCKED`` (locked past the busy timeout),
  ``SQLITE_CANTOPEN`` (the file cannot be reached).
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator

from sqlalchemy import exc as sa_exc

# Seconds a client is told to wait before trying again: about what a
# PostgreSQL restart takes; a busy SQLite file frees sooner.
RETRY_AFTER = 2

_NET_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN,
                         errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
                         errno.EPIPE})
_SQLITE_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN})


def _asyncpg_outages() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions as pg  # type: ignore[import-untyped]
    except ImportError:  # a center on SQLite only may be installed without it
        return ()
    return (pg.PostgresConnectionError, pg.InsufficientResourcesError, pg.OperatorInterventionError)


_ASYNCPG = _asyncpg_outages()
_SA = (sa_exc.TimeoutError, sa_exc.DisconnectionError)


def chain(exc: BaseException, limit: int = 10) -> Iterator[BaseException]:
    """``exc``, the driver error SQLAlchemy wrapped, and their causes. Not the
    ``__context__`` (what was being handled when ``exc`` was raised): a bug in
    an ``except`` block of an outage must still read as a bug."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < limit:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        orig = getattr(e, "orig", None) if isinstance(e, sa_exc.DBAPIError) else None
        todo.extend(x for x in (orig, e.__cause__) if isinstance(x, BaseException))


def _one(e: BaseException) -> bool:
    if isinstance(e, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(e, OSError) and not isinstance(e, FileNotFoundError | PermissionError):
        return e.errno in _NET_ERRNOS
    if isinstance(e, sa_exc.DBAPIError):
        return bool(e.connection_invalidated)
    if isinstance(e, _SA) or (_ASYNCPG and isinstance(e, _ASYNCPG)):
        return True
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        return isinstance(code, int) and (code & 0xFF) in _SQLITE_CODES
    return False


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (see the module)."""
    return any(_one(e) for e in chain(exc))


def describe(exc: BaseException) -> str:
    """The failure for a log line: its types and codes, never its message (a
    statement's parameters may carry owner data)."""
    parts = []
    for e in chain(exc):
        name = type(e).__name__
        code = getattr(e, "sqlite_errorname", None) or getattr(e, "sqlstate", None)
        if code is None and isinstance(e, OSError) and e.errno is not None:
            code = errno.errorcode.get(e.errno)
        parts.append(f"{name}({code})" if isinstance(code, str) and code else name)
    return " <- ".join(parts)
