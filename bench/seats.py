"""Seat speed: ``.venv/bin/python bench/seats.py [--seconds S] [--clients C] [--pg]``

1. Local seat acquire+release (core.seats.SeatTable, N=20 slots, 10 other
   sessions holding seats) vs the bare baseline open+flock+close of one file.
   Target: < 5 ms per acquire+release.
2. License server seat acquire+release (POST /seats + DELETE /seats/{id}) at
   C concurrent clients (default 50) against one ``licwiz server serve``
   process on SQLite (and PostgreSQL with --pg), rate and p99; the ceiling is
   GET /health (no database) with the same clients. Targets: >= 2,000/s, p99 < 20 ms.

Everything runs on this computer: client and server share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import httpx  # noqa: E402
import loadgen  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from licwiz.core import seats  # noqa: E402
from licwiz.core.keys import public_pem  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


def bench_local(tmp: Path, n: int = 2000) -> None:
    os.environ["LICWIZ_SEAT_DIR"] = str(tmp / "seats")
    table = seats.SeatTable("bench-product", 20)
    others = [table.acquire(f"unix:other{i}") for i in range(10)]
    base_file = tmp / "baseline.lock"
    base_file.touch()
    for _ in range(50):  # warm up
        table.acquire("unix:me").release()
    t0 = time.perf_counter()
    for _ in range(n):
        fd = os.open(base_file, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.close(fd)
    base = (time.perf_counter() - t0) / n
    lat = []
    for i in range(n):
        t = time.perf_counter()
        table.acquire(f"unix:me{i % 7}").release()
        lat.append(time.perf_counter() - t)
    mean = statistics.fmean(lat)
    med = statistics.median(lat)
    for s in others:
        s.release()
    print("Local seats (N=20, 10 held by other sessions)")
    print(f"  baseline open+flock+close        {base * 1e6:8.1f} us")
    print(f"  seat acquire+release   median    {med * 1e6:8.1f} us   ({med / base:5.1f}x baseline)   "
          f"target < 5000 us: {'met' if med < 0.005 else 'NOT met'}")
    print(f"                         mean      {mean * 1e6:8.1f} us   p99 {pct(lat, 0.99) * 1e6:8.1f} us")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_server(db: str, env: dict[str, str]) -> tuple[str, str]:
    py = str(REPO / ".venv" / "bin" / "python")
    out = subprocess.run([py, "-m", "licwiz.cli", "server", "init", "--db", db], env=env, check=True,
                         capture_output=True, text=True).stdout
    admin = next(x.split(":", 1)[1].strip() for x in out.splitlines() if x.startswith("admin token:"))
    client = next(x.split(":", 1)[1].strip() for x in out.splitlines() if x.startswith("client token:"))
    return admin, client


def start_server(db: str, tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    py = str(REPO / ".venv" / "bin" / "python")
    port = free_port()
    proc = subprocess.Popen([py, "-m", "licwiz.cli", "server", "serve", "--port", str(port), "--db", db],
                            env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "server.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {(tmp / 'server.log').read_text()}")


def load(urls: list[str], token: str, clients: int, seconds: float, kind: str) -> loadgen.Result:
    async def op(h: loadgen.RawHttp, w: int, i: int) -> bool:
        if kind == "health":
            st, _ = await h.call("GET", "/api/v1/health")
            if st != 200:
                raise RuntimeError(f"HTTP {st}")
            return True
        body = json.dumps({"session": f"w{w}-{i}", "host": f"h{w}", "user": "bench",
                           "product": "licwiz-demo"}).encode()
        st, b = await h.call("POST", "/api/v1/seats", body)
        if st != 201:
            raise RuntimeError(f"claim: HTTP {st} {b!r}")
        st, b = await h.call("DELETE", f"/api/v1/seats/{json.loads(b)['seat_id']}")
        if st != 200:
            raise RuntimeError(f"release: HTTP {st} {b!r}")
        return True

    return loadgen.arun(loadgen.run(urls, clients, seconds, op, token))


def bench_server(tmp: Path, db: str, label: str, clients: int, seconds: float, servers: int) -> None:
    from support.fixtures_server import SeatLicenses

    key = Ed25519PrivateKey.generate()
    kd = tmp / f"keys-{label}"
    kd.mkdir()
    (kd / "k.pem").write_text(public_pem(key.public_key()))
    env = {**os.environ, "LICWIZ_TRUSTED_KEYS": str(kd), "LICWIZ_PRODUCT": "licwiz-demo"}
    os.environ["LICWIZ_PRODUCT"] = "licwiz-demo"
    admin, client = init_server(db, env)
    started = [start_server(db, tmp, env) for _ in range(servers)]
    urls = [u for _, u in started]
    url = urls[0]
    try:
        text = SeatLicenses(key, kd).make(1000)[1]
        r = httpx.post(f"{url}/api/v1/licenses", json={"license": text},
                       headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 201, r.text
        load(urls, client, clients, 1.0, "health")  # warm up
        h = load(urls, client, clients, seconds, "health")
        load(urls, client, clients, 1.0, "seat")
        st = load(urls, client, clients, seconds, "seat")
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(10)
    hr, sr = h.rate, st.rate
    print(f"License server, {label}, {clients} concurrent clients, {servers} server process(es), "
          f"{seconds:g} s each")
    print(f"  ceiling GET /health              {hr:8.0f} /s   p99 {h.pct(.99):6.1f} ms")
    print(f"  seat acquire+release             {sr:8.0f} /s   p50 {st.p50:6.1f} ms   "
          f"p90 {st.pct(.9):6.1f} ms")
    print(f"                                               p99 {st.pct(.99):6.1f} ms   "
          f"({sr / hr:4.2f}x ceiling; targets >= 2000/s, p99 < 20 ms: "
          f"{'met' if sr >= 2000 and st.pct(.99) < 20 and not st.errors else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pg", action="store_true", help="also PostgreSQL at 127.0.0.1:5432 (user postgres)")
    ap.add_argument("--servers", type=int, default=1, help="server processes sharing the database")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_local(tmp)
        bench_server(tmp, f"sqlite+aiosqlite:///{tmp / 'bench.db'}", "SQLite", args.clients, args.seconds,
                     args.servers)
        if args.pg:
            import asyncpg  # type: ignore[import-untyped]

            name = f"licwiz_bench_{uuid.uuid4().hex[:8]}"

            async def admin(sql: str) -> None:
                c = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
                try:
                    await c.execute(sql)
                finally:
                    await c.close()

            asyncio.run(admin(f'CREATE DATABASE "{name}"'))
            try:
                bench_server(tmp, f"postgresql+asyncpg://postgres@127.0.0.1/{name}", "PostgreSQL",
                             args.clients, args.seconds, args.servers)
            finally:
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
