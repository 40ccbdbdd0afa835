"""Licensing Center throughput against the limits of its own parts, measured in the same run.

    .venv/bin/python bench/center.py [--seconds 4] [--runs 3] [--clients 50] [--no-pg] [--grow N]

What is measured (50 concurrent clients by default, bench/loadgen.py, a new
connection per request as each wizard run is its own client):

- first-time activations per second and p50/p99 of real ``licwiz center
  serve`` processes, SQLite and PostgreSQL, 1 and 2 workers;
- the limits of the parts, in the same run: a hello-world Starlette POST (the
  same body) under the same uvicorn options and worker count; the project's
  activation transaction on the bare driver (center/activation_sql.py:
  sqlite3 in one writer thread, asyncpg with 50 tasks on a pool); Ed25519
  signing of a license in as many processes as workers.

Each figure is the median of ``--runs`` windows with the range; each
activation figure is also printed as a fraction of the smallest limit that
applies to it. ``--grow N`` measures SQLite 1 worker again with N more kits
and N licenses put into the database by bare SQL (the cost of a large database).

Kits and PINs are put into the database by bare SQL (``fill``), with the
home's PIN key, as ``licwiz center kit create`` would store them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
import procs
from licwiz.center import activation_sql as q
from licwiz.center.keystore import load_keys
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.license import License, pin_digest, sign
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest

PG = os.environ.get("LICWIZ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OWNER = OwnerData(kind="person", contact="Bench Person", email="bench@example.com", country="NL",
                  city="Delft", address="Mekelweg 4")
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
PRODUCT = "licwiz-demo"
PINS_PER_KIT = 20


def _cli(home: Path, db_url: str, *args: str) -> str:
    cmd = [sys.executable, "-m", "licwiz.cli", "center", *args, "--db", db_url, "--home", str(home)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@dataclass
class Server:
    url: str
    pid: int

    def cpu(self) -> float:
        """CPU seconds of the server's processes so far (procs.tree_cpu)."""
        return procs.tree_cpu(self.pid)


@contextlib.contextmanager
def _process(cmd: list[str], port: int) -> Iterator[Server]:
    with procs.running(cmd, port) as (url, pid):
        yield Server(url, pid)


def serve(home: Path, db_url: str, workers: int) -> contextlib.AbstractContextManager[Server]:
    port = procs.free_port()
    return _process([sys.executable, "-m", "licwiz.cli", "center", "serve", "--port", str(port), "--workers",
                     str(workers), "--db", db_url, "--home", str(home), "--log-file",
                     str(home / "requests.log")], port)


# ---- the hello-world limit: the same uvicorn options as center/setup.py's serve


def hello_app() -> Any:
    """A Starlette app answering POST with a small JSON document (uvicorn factory)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def hello(request: Request) -> Response:
        await request.body()
        return JSONResponse({"hello": "world"})

    return Starlette(routes=[Route("/api/v1/health", health), Route("/api/v1/activate", hello,
                                                                    methods=["POST"])])


def _hello_serve(port: int, workers: int) -> None:
    import uvicorn

    sys.path.insert(0, str(Path(__file__).parent))
    uvicorn.run("center:hello_app", factory=True, host="127.0.0.1", port=port, workers=workers,
                access_log=False, log_level="warning", timeout_graceful_shutdown=5,
                app_dir=str(Path(__file__).parent))


def hello(workers: int) -> contextlib.AbstractContextManager[Server]:
    port = procs.free_port()
    return _process([sys.executable, __file__, "--hello-serve", str(port), str(workers)], port)


# ---- kits by bare SQL


@dataclass
class Kits:
    pins: list[tuple[str, str]]  # (regnum, PIN), unused
    pin_key: bytes


def _new_kits(n: int, pins_per_kit: int, pin_key_hash: Callable[[str], str], taken: set[str],
              ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[str, str]]]:
    """``n`` new kits (none of the registration numbers ``taken``) and their PINs."""
    now = dt.datetime.now(dt.UTC)
    regnums: set[str] = set()
    while len(regnums) < n:
        r = new_regnum()
        if r not in taken:
            regnums.add(r)
    kits, pins, plain = [], [], []
    seen: set[str] = set()
    for r in regnums:
        kits.append((r, PRODUCT, 1, now))
        for i in range(pins_per_kit):
            pin = new_pin()
            while pin in seen:
                pin = new_pin()
            seen.add(pin)
            pins.append((pin_key_hash(pin), r, "single", i + 1))
            plain.append((r, pin))
    return kits, pins, plain


def fill_sqlite(path: str, home: Path, n: int, pins_per_kit: int = PINS_PER_KIT) -> Kits:
    keys = load_keys(home)
    c = sqlite3.connect(path, isolation_level=None)
    taken = {r for (r,) in c.execute("SELECT regnum FROM kits")}
    kits, pins, plain = _new_kits(n, pins_per_kit, keys.pin_hash, taken)
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO kits (regnum, product, users, created, issued, failed_pins, lock_level) "
                  "VALUES (?, ?, ?, ?, 0, 0, 0)", [(*k[:3], q.sqlite_ts(k[3])) for k in kits])
    c.executemany("INSERT INTO pins (pin_hash, regnum, pin_set, position) VALUES (?, ?, ?, ?)", pins)
    c.execute("COMMIT")
    c.close()
    return Kits(plain, keys.pin_key)


async def fill_pg(dsn: str, home: Path, n: int, pins_per_kit: int = PINS_PER_KIT) -> Kits:
    import asyncpg  # type: ignore[import-untyped]

    keys = load_keys(home)
    conn = await asyncpg.connect(dsn)
    try:
        taken = {r["regnum"] for r in await conn.fetch("SELECT regnum FROM kits")}
        kits, pins, plain = _new_kits(n, pins_per_kit, keys.pin_hash, taken)
        async with conn.transaction():
            await conn.copy_records_to_table("kits", records=[(*k, 0, 0, 0) for k in kits],
                                             columns=["regnum", "product", "users", "created", "issued",
                                                      "failed_pins", "lock_level"])
            await conn.copy_records_to_table("pins", records=pins,
                                             columns=["pin_hash", "regnum", "pin_set", "position"])
    finally:
        await conn.close()
    return Kits(plain, keys.pin_key)


def grow_sqlite(path: str, home: Path, n: int) -> None:
    """``n`` more kits, each with one PIN spent for a license (a large, old database)."""
    keys = load_keys(home)
    kits, pins, _ = _new_kits(n, 1, keys.pin_hash, set())
    now = q.sqlite_ts(dt.datetime.now(dt.UTC))
    text = "x" * 900  # about a license's size
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO kits (regnum, product, users, created, pin_set, issued, failed_pins, "
                  "lock_level) VALUES (?, ?, ?, ?, 'single', 1, 0, 0)",
                  [(*k[:3], now) for k in kits])
    c.executemany("INSERT INTO pins (pin_hash, regnum, pin_set, position, used_at) VALUES (?, ?, ?, ?, ?)",
                  [(*p, now) for p in pins])
    c.executemany(q.INSERT_LICENSE.sqlite, ({
        "license_id": f"{p[1]}-001", "regnum": p[1], "serial": 1, "pin_hash": p[0], "product": PRODUCT,
        "users": 1, "pin_set": "single", "method": "online", "owner_json": "{}", "owner_digest": "0" * 64,
        "params_json": "{}", "text": text, "issued_at": now, "status": "active", "supersedes": None,
        "superseded_by": None, "request_id": uuid.uuid4().hex} for p in pins))
    c.executemany(q.INSERT_AUDIT.sqlite, ({
        "at": now, "request_id": uuid.uuid4().hex, "event": "issue", "code": None, "regnum": p[1],
        "license_id": f"{p[1]}-001", "actor": None, "client_addr": "127.0.0.1"} for p in pins))
    c.execute("COMMIT")
    c.close()


# ---- the bare-driver transaction limit (no rules, no signing: the statements alone)

_TEXT = "licwiz license\n" + "x" * 880


def _lic_row(regnum: str, serial: int, pin_hash: str, now: Any) -> dict[str, Any]:
    return {"license_id": f"{regnum}-{serial:03d}", "regnum": regnum, "serial": serial, "pin_hash": pin_hash,
            "product": PRODUCT, "users": 1, "pin_set": "single", "method": "online",
            "owner_json": "{}", "owner_digest": "0" * 64, "params_json": "{}", "text": _TEXT,
            "issued_at": now, "status": "active", "supersedes": None, "superseded_by": None,
            "request_id": uuid.uuid4().hex}


def txn_sqlite(path: str, kits: Kits, seconds: float) -> tuple[float, float]:
    """Activations/s of the project's statements on sqlite3, one writer (as in the
    center), and the CPU ms of each."""
    import hashlib
    import hmac

    c = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA foreign_keys=ON")
    done = 0
    stop = time.perf_counter() + seconds
    t0, cpu0 = time.perf_counter(), time.thread_time()
    while time.perf_counter() < stop and kits.pins:
        regnum, pin = kits.pins.pop()
        ph = hmac.new(kits.pin_key, pin.encode(), hashlib.sha256).hexdigest()
        now = dt.datetime.now(dt.UTC)
        ts = q.sqlite_ts(now)
        key = uuid.uuid4().hex
        c.execute("BEGIN IMMEDIATE")
        kit = c.execute(q.LOOKUP.sqlite, {"regnum": regnum, "pin": ph, "addr": "127.0.0.1",
                                          "cutoff": ts, "key": key}).fetchone()
        assert kit is not None and kit[8] is not None
        c.execute(q.SPEND_PIN.sqlite, {"now": ts, "pin": ph})
        serial = c.execute(q.TAKE_SERIAL.sqlite, {"regnum": regnum, "set": "single"}).fetchone()[0]
        c.execute(q.INSERT_LICENSE.sqlite, _lic_row(regnum, serial, ph, ts))
        c.execute(q.INSERT_AUDIT.sqlite, {"at": ts, "request_id": key, "event": "issue", "code": None,
                                          "regnum": regnum, "license_id": f"{regnum}-{serial:03d}",
                                          "actor": None, "client_addr": "127.0.0.1"})
        c.execute(q.INSERT_IDEM.sqlite, {"key": key, "body_hash": "0" * 64, "status": 200,
                                         "response": "{}", "created": ts})
        c.execute("COMMIT")
        done += 1
    cpu = (time.thread_time() - cpu0) * 1000 / max(1, done)
    c.close()
    return done / (time.perf_counter() - t0), cpu


async def txn_pg(dsn: str, kits: Kits, seconds: float, tasks: int) -> tuple[float, float]:
    """Activations/s of the project's statements on asyncpg, ``tasks`` at once, and
    the client's CPU ms of each (PostgreSQL's own is not counted, as for the center)."""
    import hashlib
    import hmac

    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=tasks // 2, max_size=tasks // 2)
    done = 0
    stop = time.perf_counter() + seconds
    tail = q.TAIL[True, True]

    async def one() -> None:
        nonlocal done
        while time.perf_counter() < stop and kits.pins:
            regnum, pin = kits.pins.pop()
            ph = hmac.new(kits.pin_key, pin.encode(), hashlib.sha256).hexdigest()
            now = dt.datetime.now(dt.UTC)
            key = uuid.uuid4().hex
            async with pool.acquire() as c, c.transaction():
                kit = await c.fetchrow(q.LOOKUP_LOCKED.pg, *q.LOOKUP_LOCKED.pg_args({
                    "regnum": regnum, "pin": ph, "addr": "127.0.0.1", "cutoff": now, "key": key}))
                assert kit is not None and kit["p_pin"] is not None
                got = await c.fetchrow(q.SPEND_AND_SERIAL.pg, *q.SPEND_AND_SERIAL.pg_args({
                    "now": now, "pin": ph, "set": "single", "regnum": regnum}))
                serial = got["serial"]
                params = {f"l_{k}": v for k, v in _lic_row(regnum, serial, ph, now).items()}
                params.update(i_key=key, i_body_hash="0" * 64, i_status=200, i_response="{}", i_created=now,
                              a_at=now, a_request_id=key, a_event="issue", a_code=None, a_regnum=regnum,
                              a_license_id=params["l_license_id"], a_actor=None, a_client_addr="127.0.0.1")
                await c.execute(tail.pg, *tail.pg_args(params))
            done += 1

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(tasks)))
    rate = done / (time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) * 1000 / max(1, done)
    await pool.close()
    return rate, cpu


# ---- the signing limit


def _sign_for(seconds: float) -> tuple[int, float]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from licwiz.core.keys import key_id

    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    n = 0
    stop = time.perf_counter() + seconds
    cpu0 = time.process_time()
    while time.perf_counter() < stop:
        lic = License(license_id=f"1234567890-{n % 1000:03d}", product=PRODUCT, regnum="1234567890", users=1,
                      owner_digest=OWNER.digest(), params=dict(PARAMS), method="online",
                      pin_digest=pin_digest("1234567890", "123456789012345"), issued="2026-01-01",
                      key_id=kid, supersedes=None)
        sign(lic, key)
        n += 1
    return n, time.process_time() - cpu0


def sign_rate(processes: int, seconds: float) -> tuple[float, float]:
    """Licenses signed per second (core.license.sign) in ``processes`` processes at
    once, and the CPU ms of each signature."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        got = pool.map(_sign_for, [seconds] * processes)
    n = sum(c for c, _ in got)
    return n / seconds, sum(t for _, t in got) * 1000 / max(1, n)


# ---- measuring


@dataclass
class Figure:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self) -> str:
        return f"{self.median:>8.0f} {min(self.values):>7.0f}-{max(self.values):<7.0f}"


@dataclass
class Case:
    name: str
    workers: int
    rate: Figure
    p50: Figure
    p99: Figure
    cpu: Figure  # server CPU ms per activation
    errors: int


def _bodies(kits: Kits) -> list[bytes]:
    reqs = [ActivationRequest(PRODUCT, r, p, "first", OWNER, PARAMS) for r, p in kits.pins]
    return [json.dumps(r.to_dict(), separators=(",", ":")).encode() for r in reqs]


def _load(url: str, clients: int, seconds: float, bodies: list[bytes] | None) -> loadgen.Result:
    it = iter(bodies or [])

    async def op(conn: loadgen.RawHttp, n: int, i: int) -> bool:
        if bodies is None:
            status, _ = await conn.call("GET", "/api/v1/health")
        else:
            body = next(it, None)
            if body is None:
                return False
            status, _ = await conn.call("POST", "/api/v1/activate", body,
                                        {"Idempotency-Key": uuid.uuid4().hex})
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return True

    return loadgen.arun(loadgen.run([url], clients, seconds, op, reconnect=True))


def _timed(server: Server, run: Callable[[], loadgen.Result]) -> tuple[loadgen.Result, float]:
    """A window of load and the server's CPU milliseconds per answered request in it."""
    before = server.cpu()
    r = run()
    return r, (server.cpu() - before) * 1000 / max(1, len(r.latencies))


def _windows(server: Server, args: argparse.Namespace, bodies: list[bytes],
             ) -> tuple[Figure, Figure, Figure, Figure, int]:
    """Warm up, then ``--runs`` windows of load: rate, p50, p99, CPU ms per activation, errors."""
    per = len(bodies) // (args.runs + 1)
    _load(server.url, args.clients, 1.0, bodies[:per])  # connections opened, statements prepared
    rs = [_timed(server, lambda i=i: _load(server.url, args.clients, args.seconds,  # type: ignore[misc]
                                           bodies[per * (i + 1): per * (i + 2)]))
          for i in range(args.runs)]
    return (Figure([r.rate for r, _ in rs]), Figure([r.p50 for r, _ in rs]),
            Figure([r.pct(0.99) for r, _ in rs]), Figure([c for _, c in rs]), sum(r.errors for r, _ in rs))


def _pins_needed(args: argparse.Namespace) -> int:
    """Enough unused PINs for every window at 4,000 activations/s."""
    return int(4000 * (args.seconds * args.runs + 2)) // PINS_PER_KIT + 1


def _pair(results: list[tuple[float, float]]) -> tuple[Figure, Figure]:
    """(rate, CPU ms) results -> a Figure of each."""
    return Figure([r for r, _ in results]), Figure([c for _, c in results])


def sqlite_case(workers: int, args: argparse.Namespace, grow: int = 0) -> tuple[Case, tuple[Figure, Figure]]:
    with tempfile.TemporaryDirectory(prefix="licwiz-bench-") as tmp:
        home = Path(tmp)
        path = str(home / "center.db")
        url = f"sqlite+aiosqlite:///{path}"
        _cli(home, url, "init")
        _cli(home, url, "config", "set", "addr_max_failures", "100000000")
        if grow:
            grow_sqlite(path, home, grow)
        kits = fill_sqlite(path, home, _pins_needed(args))
        bodies = _bodies(kits)
        with serve(home, url, workers) as base:
            rate, p50, p99, cpu, errors = _windows(base, args, bodies)
        # The bare transaction on the same file, after the server stopped.
        spare = fill_sqlite(path, home, _pins_needed(args))
        txn = _pair([txn_sqlite(path, spare, args.seconds) for _ in range(args.runs)])
    name = "SQLite" + (f" +{grow:,} kits/licenses" if grow else "")
    return Case(name, workers, rate, p50, p99, cpu, errors), txn


async def _pg_admin(sql: str) -> None:
    await procs.pg_admin(PG, sql)


def pg_case(workers: int, args: argparse.Namespace) -> tuple[Case, tuple[Figure, Figure]]:
    name = f"licwiz_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        dsn = PG.rsplit("/", 1)[0] + f"/{name}"
        url = dsn.replace("postgresql://", "postgresql+asyncpg://")
        with tempfile.TemporaryDirectory(prefix="licwiz-bench-") as tmp:
            home = Path(tmp)
            _cli(home, url, "init")
            _cli(home, url, "config", "set", "addr_max_failures", "100000000")
            kits = asyncio.run(fill_pg(dsn, home, _pins_needed(args)))
            bodies = _bodies(kits)
            with serve(home, url, workers) as base:
                rate, p50, p99, cpu, errors = _windows(base, args, bodies)
            spare = asyncio.run(fill_pg(dsn, home, _pins_needed(args)))
            txn = _pair([asyncio.run(txn_pg(dsn, spare, args.seconds, args.clients))
                         for _ in range(args.runs)])
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return Case("PostgreSQL", workers, rate, p50, p99, cpu, errors), txn


def hello_limit(workers: int, args: argparse.Namespace, body: bytes) -> tuple[Figure, Figure]:
    """Requests/s and server CPU ms per request of the hello-world POST."""
    bodies = [body] * 10_000_000
    with hello(workers) as base:
        _load(base.url, args.clients, 1.0, bodies)
        rs = [_timed(base, lambda: _load(base.url, args.clients, args.seconds, bodies))
              for _ in range(args.runs)]
    return Figure([r.rate for r, _ in rs]), Figure([c for _, c in rs])


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--hello-serve":
        _hello_serve(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="load time per window")
    ap.add_argument("--runs", type=int, default=3, help="windows per figure (median and range)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--workers", default="1,2", help="worker counts to measure")
    ap.add_argument("--grow", type=int, default=0, metavar="N",
                    help="also SQLite, 1 worker, with N more kits and licenses in the database")
    args = ap.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    body = json.dumps(ActivationRequest(PRODUCT, "1234567890", "1" * 15, "first", OWNER, PARAMS).to_dict(),
                      separators=(",", ":")).encode()

    # name -> (per second, CPU ms each)
    limits: dict[str, tuple[Figure, Figure]] = {}
    for w in worker_counts:
        limits[f"hello-world POST, {w} worker(s)"] = hello_limit(w, args, body)
        limits[f"Ed25519 sign, {w} process(es)"] = _pair([sign_rate(w, args.seconds)
                                                          for _ in range(args.runs)])
    cases: list[tuple[Case, list[str]]] = []
    for w in worker_counts:
        case, txn = sqlite_case(w, args)
        limits.setdefault("activation SQL, bare sqlite3", txn)
        cases.append((case, [f"hello-world POST, {w} worker(s)", f"Ed25519 sign, {w} process(es)",
                             "activation SQL, bare sqlite3"]))
    if args.grow:
        case, txn = sqlite_case(1, args, grow=args.grow)
        limits[f"activation SQL, bare sqlite3, +{args.grow:,}"] = txn
        cases.append((case, ["hello-world POST, 1 worker(s)", "Ed25519 sign, 1 process(es)",
                             f"activation SQL, bare sqlite3, +{args.grow:,}"]))
    if not args.no_pg:
        for w in worker_counts:
            try:
                case, txn = pg_case(w, args)
            except OSError as exc:
                print(f"PostgreSQL skipped: {exc}")
                break
            limits.setdefault("activation SQL, bare asyncpg", txn)
            cases.append((case, [f"hello-world POST, {w} worker(s)", f"Ed25519 sign, {w} process(es)",
                                 "activation SQL, bare asyncpg"]))

    print(f"\nLicensing Center, {args.clients} concurrent clients (a new connection per request, "
          f"bench/loadgen.py on the same machine), {os.cpu_count()} CPUs; each figure the median of "
          f"{args.runs} windows of {args.seconds:.0f} s, with the range\n")
    print(f"{'limit (per second)':<44} {'median':>8} {'range':<15} {'CPU ms each':>11}")
    for name, (fig, cpu) in limits.items():
        print(f"{name:<44} {fig.show()} {cpu.median:>11.3f}")
    print(f"\n{'center activations/s':<44} {'median':>8} {'range':<15} {'fraction':>8} {'of':<32} "
          f"{'p50 ms':>6} {'p99 ms':>6} {'errors':>6}")
    by: dict[tuple[str, int], float] = {}
    for case, names in cases:
        smallest = min(names, key=lambda n: limits[n][0].median)
        frac = case.rate.median / limits[smallest][0].median
        by[case.name, case.workers] = case.rate.median
        label = f"{case.name}, {case.workers} worker(s)"
        print(f"{label:<44} {case.rate.show()} {frac:>8.2f} {smallest:<32} {case.p50.median:>6.1f} "
              f"{case.p99.median:>6.1f} {case.errors:>6}")
    for db_name in ("SQLite", "PostgreSQL"):
        if (db_name, 1) in by and (db_name, 2) in by:
            print(f"{db_name}: 2 workers / 1 worker = x{by[db_name, 2] / by[db_name, 1]:.2f}")
    # CPU per activation does not depend on what else runs on the machine: the
    # parts' CPU (hello-world request + bare transaction + one signature) over the center's.
    print(f"\n{'server CPU ms per activation':<44} {'median':>8} {'range':<15} {'parts':>8} {'fraction':>8}")
    for case, names in cases:
        parts = sum(limits[n][1].median for n in names if not n.startswith("Ed25519")) + \
            limits["Ed25519 sign, 1 process(es)"][1].median
        label = f"{case.name}, {case.workers} worker(s)"
        lo, hi = min(case.cpu.values), max(case.cpu.values)
        print(f"{label:<44} {case.cpu.median:>8.3f} {lo:>7.3f}-{hi:<7.3f} {parts:>8.3f} "
              f"{parts / case.cpu.median:>8.2f}")
    if args.grow and ("SQLite", 1) in by:
        grown = next(c.rate.median for c, _ in cases if c.name.startswith("SQLite +"))
        print(f"SQLite 1 worker with +{args.grow:,} kits and licenses: x{grown / by['SQLite', 1]:.2f}")
    print("\nparts = the hello-world POST's server CPU + the bare transaction's + one signature's; "
          "fraction = parts / center (1.00: nothing but the parts).")
    print("\ntargets (issue 13): SQLite 1 worker >= 0.6 of the smallest limit, p99 < 50 ms; SQLite 2 workers "
          ">= x1.3; PostgreSQL 2 workers >= x1.6; a grown database within 10%.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
