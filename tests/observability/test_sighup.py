"""logrotate: the access log renamed, SIGHUP sent; the service goes on (no
restart by systemd's reload), and new lines go to a new file at the old path,
mode 0600. With --workers, uvicorn's supervisor replaces the workers on
SIGHUP: still the same result."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from observability.procs import ObservedCenter
from support.fixtures_server import LicenseServer


def _until(what: str, ok: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if ok():
                return
        time.sleep(0.1)
    pytest.fail(f"not within {timeout}s: {what}")


def _rotate_and_hup(url: str, pid: int, log: Path, alive: Callable[[], bool]) -> None:
    assert httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": "before-rotate"}).status_code == 200
    _until("the line before the rotation", lambda: "before-rotate" in log.read_text())
    rotated = log.with_name(log.name + ".1")
    log.rename(rotated)
    os.kill(pid, signal.SIGHUP)
    n = 0

    def answered_into_new_file() -> bool:
        nonlocal n
        n += 1
        rid = f"after-rotate-{n}"
        if httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": rid}, timeout=2).status_code != 200:
            return False
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if log.exists() and rid in log.read_text():
                return True
            time.sleep(0.05)
        return False

    _until("a request answered and logged in the new file", answered_into_new_file, timeout=30)
    assert alive()
    assert log.stat().st_mode & 0o777 == 0o600
    assert "before-rotate" in rotated.read_text() and "before-rotate" not in log.read_text()


@pytest.mark.parametrize("workers", [1, 2])
def test_center_sighup_reopens_the_log(tmp_path: Path, workers: int) -> None:
    c = ObservedCenter(tmp_path / "c", workers=workers)
    try:
        c.start()
        assert c.proc is not None
        proc = c.proc
        _rotate_and_hup(c.url, proc.pid, c.log_path, lambda: proc.poll() is None)
    finally:
        c.stop()
    assert proc.returncode == 0


def test_server_sighup_reopens_the_log(license_server_factory: Callable[[str | None], LicenseServer],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "server-access.log"
    monkeypatch.setenv("LICWIZ_SERVER_LOG_FILE", str(log))
    srv = license_server_factory(None)
    sp = srv.start()
    _rotate_and_hup(sp.url, sp.proc.pid, log, lambda: sp.proc.poll() is None)
    srv.stop()
    assert sp.proc.returncode == 0
