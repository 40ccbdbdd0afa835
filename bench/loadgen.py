"""A cheap closed-loop HTTP load generator for the benches.

Client and server share this computer's cores, so the generator must cost far
less than the server it measures: httpx spends more CPU per request than the
services do (bench/center.py with 50 httpx clients topped out at ~1,900
GET /health per second, against ~30,000 with this client). Each simulated client
is one keep-alive HTTP/1.1 connection on asyncio streams (uvloop when present)
that sends its next request when the previous answer is in (or, with
``reconnect``, a new connection for each request).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class RawHttp:
    """One keep-alive HTTP/1.1 connection; answers need a Content-Length."""

    def __init__(self, url: str, token: str = "") -> None:
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        assert self.r is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}{extra}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.w.write(head + body)
        raw = await self.r.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.r.readexactly(length)

    async def close(self) -> None:
        if self.w is not None:
            self.w.close()


# One simulated client's operation: returns False when there is nothing left to send.
Operation = Callable[[RawHttp, int, int], Awaitable[bool]]


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies:
            return 0.0
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(len(s) * p))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0


async def run(urls: list[str], clients: int, seconds: float, op: Operation, token: str = "",
              *, reconnect: bool = False) -> Result:
    """``clients`` connections spread over ``urls``, each repeating ``op(conn,
    client_no, i)`` for ``seconds``; an operation that raises counts as an error.
    ``reconnect``: a new connection for every operation (many distinct
    clients, each doing one thing, as wizards do; the connect is timed too)."""
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        conn = RawHttp(urls[n % len(urls)], token)
        i = 0
        try:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    more = await op(conn, n, i)
                except Exception:
                    errors += 1
                    await conn.close()
                    conn = RawHttp(urls[n % len(urls)], token)
                    continue
                if not more:
                    return
                lat.append(time.perf_counter() - t)
                i += 1
                if reconnect:
                    await conn.close()
                    conn = RawHttp(urls[n % len(urls)], token)
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return Result(time.perf_counter() - t0, lat, errors)


def arun(coro: Awaitable[Result]) -> Result:
    """asyncio.run on uvloop when it is installed (a cheaper client)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]
