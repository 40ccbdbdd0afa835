"""The center client's own retries (core/client.py): a real center restarted on
the same port while an activation is retrying, an untrusted certificate named
as such and never retried, 502/503/504 with Retry-After honoured up to a cap,
and a call that is not safe to repeat repeated only when it never left."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.core import client as client_mod
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.errors import CenterError
from licwiz.core.fingerprint import collect
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.keys import load_keyring
from licwiz.core.license import verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest
from support.fixtures_center import CenterProcess
from support.tls import self_signed

PRODUCT = "licwiz-demo"


class Recorder(httpx.AsyncHTTPTransport):
    """httpx's own transport, noting each try's outcome (the real network is used)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.tries: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            resp = await super().handle_async_request(request)
        except httpx.HTTPError as exc:
            self.tries.append((time.monotonic(), type(exc).__name__))
            raise
        self.tries.append((time.monotonic(), str(resp.status_code)))
        return resp


def _until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# A `licwiz center serve` that has done its imports and schema check and waits
# for a line on stdin before it runs: the test starts it the moment the old one
# is gone, as a supervisor restarting a center does, without the 3 s a cold
# Python start takes on a loaded test machine deciding the outcome.
_WARM = """
import asyncio, sys
import alembic.runtime.migration, alembic.script, uvicorn, uvicorn.lifespan.on, uvicorn.loops.auto
import uvicorn.protocols.http.auto, uvicorn.protocols.websockets.auto
import licwiz.center.app
from licwiz.center import setup
from licwiz.cli.main import main
asyncio.run(setup.require_schema(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[2:]))
"""


@contextlib.contextmanager
def _warm_center(center: CenterProcess) -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
    out = (center.home / "serve-2.out").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WARM, center.db_url, "center", "serve", "--host", "127.0.0.1",
         "--port", str(center.port), "--db", center.db_url, "--home", str(center.home),
         "--log-file", str(center.log_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True, env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", (center.home / "serve-2.out").read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        out.close()


def _req(owner: OwnerData, regnum: str, pin: str) -> ActivationRequest:
    return ActivationRequest(product=PRODUCT, regnum=regnum, pin=pin, operation="first", owner=owner,
                             params=collect(PRODUCT))


def test_an_activation_outlasts_a_center_restart(
    tmp_path: Path, acq_owner: OwnerData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The center is stopped, the activation's first try is refused, a new center
    starts on the same port: the same call (same body, same Idempotency-Key)
    gets the license, one PIN spent. Two immediate retries gave up in milliseconds."""
    center = CenterProcess(tmp_path / "center").start()
    try:
        monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
        kit = center.create_kit(pins=2)
        req = _req(acq_owner, kit.regnum, kit.single_pins[0])
        key = new_idempotency_key()
        rec = Recorder()
        with _warm_center(center) as successor:
            center.stop()
            assert _refused(center.port)
            result: dict[str, Any] = {}

            async def activate() -> None:
                async with CenterClient(center.url, timeout=10, transport=rec) as client:
                    try:
                        result["issued"] = await client.activate(req, key)
                    except CenterError as exc:
                        result["error"] = exc

            worker = threading.Thread(target=asyncio.run, args=(activate(),))
            worker.start()
            _until(lambda: rec.tries, 10, "the first try")
            stopped_at = rec.tries[0][0]
            assert successor.stdin is not None
            successor.stdin.write("go\n")
            successor.stdin.flush()
            started_at = time.monotonic()
            worker.join(30)
            assert not worker.is_alive()
            assert started_at - stopped_at < 0.5  # "restarted": the new center was started at once
            assert "error" not in result, (result, rec.tries, (center.home / "serve-2.out").read_text())
            outcomes = [o for _, o in rec.tries]
            assert outcomes[0] == "ConnectError" and outcomes[-1] == "200", outcomes
            assert len(outcomes) <= len(client_mod.RETRY_DELAYS) + 1
            lic = verify(result["issued"].license_text, load_keyring(), product=PRODUCT)
            assert lic.regnum == kit.regnum
            shown = json.loads(center.cli("kit", "show", kit.regnum, "--json").stdout)
            assert [p["state"] for p in shown["pins"] if p["set"] == "single"] == ["used", "unused"]
            assert len(shown["licenses"]) == 1
    finally:
        center.stop()


def test_a_dead_center_fails_in_about_a_second(acq_owner: OwnerData) -> None:
    """Four tries spread over 1.05-1.75 s, jittered: a center that is really gone is
    reported quickly, and two clients cut off together do not come back in step."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    runs: list[list[float]] = []
    for _ in range(2):
        rec = Recorder()

        async def call(rec: Recorder = rec) -> None:
            async with CenterClient(f"http://127.0.0.1:{port}", timeout=5, transport=rec) as client:
                with pytest.raises(CenterError) as info:
                    await client.health()
                assert info.value.code == "unreachable"

        asyncio.run(call())
        times = [t for t, outcome in rec.tries if outcome == "ConnectError"]
        assert len(times) == len(rec.tries) == 4
        assert 1.0 <= times[-1] - times[0] <= 2.0, times
        runs.append([b - a for a, b in itertools.pairwise(times)])
    assert runs[0] != runs[1]  # jittered


def test_wait_before_each_try_is_the_backoff_with_jitter() -> None:
    for _ in range(200):
        waits = [client_mod.retry_wait(i) for i in range(len(client_mod.RETRY_DELAYS))]
        assert all(w is not None for w in waits)
        total = sum(w for w in waits if w is not None)
        assert 1.0 <= total <= 1.8
    assert client_mod.retry_wait(len(client_mod.RETRY_DELAYS)) is None  # four tries in all
    assert client_mod.retry_wait(0, after=2.0) == 2.0  # Retry-After honoured...
    assert client_mod.retry_wait(0, after=120.0) is None  # ...up to a cap: then the error is shown
    assert client_mod.retry_wait(2, slept=5.0, after=2.0) is None  # and within one budget per call
    assert client_mod.retry_after("2") == 2.0 and client_mod.retry_after("soon") is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    after = client_mod.retry_after(later)
    assert after is not None and 25 <= after <= 31


# --- answers a real HTTP server gives (a proxy's 502, an outage's 503) ------------------


class _Script:
    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.seen: list[tuple[float, str, str]] = []  # (time, path, Idempotency-Key)


@contextlib.contextmanager
def _scripted(answers: list[tuple[int, dict[str, str]]]) -> Iterator[tuple[str, _Script]]:
    """A server that answers each call with the next (status, headers), then 200."""
    script = _Script(answers)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            script.seen.append((time.monotonic(), self.path, self.headers.get("Idempotency-Key", "")))
            status, headers = script.answers.pop(0) if script.answers else (200, {})
            doc: dict[str, Any] = {"status": "ok", "echo": body.decode()}
            if status != 200:
                doc = {"error": {"code": "unavailable", "brief": "The Licensing Center is busy",
                                 "detail": "database out of reach", "request_id": "r1"}}
            data = json.dumps(doc).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


async def test_503_with_retry_after_is_retried_after_that_wait() -> None:
    with _scripted([(503, {"Retry-After": "1"}), (502, {})]) as (url, script):
        async with CenterClient(url, timeout=5) as client:
            assert (await client.health())["status"] == "ok"
    (t0, _, _), (t1, _, _), (t2, _, _) = script.seen
    assert t1 - t0 >= 0.95  # what the center asked
    assert t2 - t1 < 0.5  # a 502 without Retry-After: the backoff


async def test_activation_retries_send_the_same_key_and_body(acq_owner: OwnerData) -> None:
    req = ActivationRequest(product=PRODUCT, regnum=new_regnum(), pin=new_pin(), operation="first",
                            owner=acq_owner, params=collect(PRODUCT))
    with _scripted([(503, {"Retry-After": "0"}), (504, {})]) as (url, script):
        async with CenterClient(url, timeout=5) as client:
            with contextlib.suppress(CenterError):  # the scripted 200 is no license
                await client.activate(req, "key-1")
    assert [(path, key) for _, path, key in script.seen] == [("/api/v1/activate", "key-1")] * 3


async def test_a_long_retry_after_is_reported_not_waited_for() -> None:
    with _scripted([(503, {"Retry-After": "120"})]) as (url, script):
        async with CenterClient(url, timeout=5) as client:
            with pytest.raises(CenterError) as info:
                await client.health()
    assert info.value.code == "unavailable" and info.value.status == 503
    assert len(script.seen) == 1


def test_an_unavailable_center_exits_4_like_an_unreachable_one(acq_owner_file: Path) -> None:
    """503 unavailable means "try again later", not a refusal (exit 3 was "refused")."""
    with _scripted([(503, {"Retry-After": "120"})] * 2) as (url, _):
        r = subprocess.run(
            [sys.executable, "-m", "licwiz.cli", "acquire", "--center", url, "--kit", new_regnum(),
             "--pin", new_pin(), "--owner-file", str(acq_owner_file), "--operation", "first",
             "--scope", "user"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4, r.stderr
    assert r.stderr.count("\n") == 1 and "[unavailable]" in r.stderr


async def test_a_request_file_without_a_key_is_not_sent_twice() -> None:
    """Without an Idempotency-Key the center could spend a second PIN on a repeat:
    a 503 is reported, not retried; a refused connection (nothing sent) is retried."""
    with _scripted([(503, {"Retry-After": "0"})]) as (url, script):
        async with CenterClient(url, timeout=5) as client:
            with pytest.raises(CenterError) as info:
                await client.submit_request_file("-----BEGIN LICWIZ REQUEST-----")
    assert info.value.code == "unavailable" and len(script.seen) == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Recorder()
    async with CenterClient(f"http://127.0.0.1:{port}", timeout=5, transport=rec) as client:
        with pytest.raises(CenterError):
            await client.submit_request_file("x")
    assert [o for _, o in rec.tries] == ["ConnectError"] * 4


# --- certificates ---------------------------------------------------------------------------


def test_an_untrusted_certificate_is_named_and_not_retried(
    tmp_path: Path, acq_owner_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A center with a self-signed certificate the client does not trust: the
    error says the certificate is not trusted and why, after one try; licwiz
    acquire exits 4 with that one line."""
    center = CenterProcess(tmp_path / "center").start(tls=self_signed(tmp_path))
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        rec = Recorder()

        async def call() -> CenterError:
            async with CenterClient(center.url, timeout=5, transport=rec) as client:
                with pytest.raises(CenterError) as info:
                    await client.health()
            return info.value

        err = asyncio.run(call())
        assert err.code == "untrusted_certificate"
        assert "certificate is not trusted" in err.brief and "self" in err.brief, err.brief
        assert len(rec.tries) == 1
        kit = center.create_kit()
        env = {**os.environ, "LICWIZ_TRUSTED_KEYS": str(center.trusted_keys)}
        r = subprocess.run(
            [sys.executable, "-m", "licwiz.cli", "acquire", "--center", center.url, "--kit", kit.regnum,
             "--pin", kit.single_pins[0], "--owner-file", str(acq_owner_file), "--operation", "first",
             "--scope", "user"], capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 4, r.stderr
        assert r.stderr.count("\n") == 1 and "certificate is not trusted" in r.stderr
        # trusted through SSL_CERT_FILE, the same command works
        env["SSL_CERT_FILE"] = str(tmp_path / "cert.pem")
        r = subprocess.run(
            [sys.executable, "-m", "licwiz.cli", "acquire", "--center", center.url, "--kit", kit.regnum,
             "--pin", kit.single_pins[0], "--owner-file", str(acq_owner_file), "--operation", "first",
             "--scope", "user"], capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr
    finally:
        center.stop()
