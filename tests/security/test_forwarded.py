"""Issue 11 point 4: X-Forwarded-For is believed only from the proxies given
with ``licwiz center serve --forwarded-allow-ips``. A client on the center's
own host (127.0.0.1, uvicorn's default trusted proxy) that rotates the header
stays one address for the limit; with ``--forwarded-allow-ips 127.0.0.1`` (a
load balancer on the host) the header names the client. Real serve processes;
the embedded center believes no header either."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from licwiz.center.embedded import EmbeddedCenter
from licwiz.core.identifiers import new_regnum
from licwiz.core.request import ActivationRequest
from support import owners
from support.fixtures_center import free_port

PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
OWNER = owners.ORGANISATION
LIMIT = 5


def serve(c: Any, *extra: str, timeout: float = 30.0) -> None:
    """``licwiz center serve`` for the (initialised, not started) center ``c``
    with extra options; ``c.stop()`` (the fixture's) ends it."""
    c.port = free_port()
    c.url = f"http://127.0.0.1:{c.port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
    env.pop("FORWARDED_ALLOW_IPS", None)
    with c.out_path.open("ab") as out:
        c.proc = subprocess.Popen(
            [sys.executable, "-m", "licwiz.cli", "center", "serve", "--host", "127.0.0.1",
             "--port", str(c.port), "--db", c.db_url, "--home", str(c.home),
             "--log-file", str(c.log_path), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert c.proc.poll() is None, c.out_path.read_text(errors="replace")[-2000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{c.url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"center serve did not answer in {timeout}s")


def unknown_kits(url: str, n: int) -> list[tuple[str, str]]:
    """``n`` unknown registration numbers, each claiming another client address."""
    out = []
    for i in range(n):
        addr = f"203.0.113.{i + 1}"
        body = ActivationRequest("licwiz-demo", new_regnum(), "000000000000000", "first", OWNER,
                                 dict(PARAMS)).to_dict()
        r = httpx.post(f"{url}/api/v1/activate", json=body, headers={"X-Forwarded-For": addr}, timeout=30)
        out.append((addr, r.json()["error"]["code"]))
    return out


def audited_addrs(db_file: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db_file)) as con:
        return [r[0] for r in con.execute("SELECT client_addr FROM audit WHERE code IN "
                                          "('kit_unknown', 'rate_limited') ORDER BY id")]


def test_forwarded_for_from_loopback_is_not_believed(center_factory: Any) -> None:
    c = center_factory(settings={"addr_max_failures": str(LIMIT)}, start=False)
    serve(c)
    codes = [code for _, code in unknown_kits(c.url, LIMIT + 3)]
    assert codes == ["kit_unknown"] * LIMIT + ["rate_limited"] * 3, codes
    assert set(audited_addrs(c.home / "center.db")) == {"127.0.0.1"}


def test_forwarded_for_is_believed_from_the_allowed_proxies(center_factory: Any) -> None:
    c = center_factory(settings={"addr_max_failures": str(LIMIT)}, start=False)
    serve(c, "--forwarded-allow-ips", "127.0.0.1")
    got = unknown_kits(c.url, LIMIT + 3)
    assert [code for _, code in got] == ["kit_unknown"] * (LIMIT + 3), got
    assert audited_addrs(c.home / "center.db") == [addr for addr, _ in got]
    assert "X-Forwarded-For believed from 127.0.0.1" in c.out_path.read_text()


def test_the_embedded_center_believes_no_forwarded_header(tmp_path: Path) -> None:
    with EmbeddedCenter(tmp_path / "demo") as c:
        assert c.service is not None
        c.call(c.service.settings.set("addr_max_failures", str(LIMIT)))
        codes = [code for _, code in unknown_kits(c.url, LIMIT + 1)]
    assert codes == ["kit_unknown"] * LIMIT + ["rate_limited"], codes
