"""Issue 17 point 3: ``licwiz center serve`` ends with status 0 after a
graceful SIGTERM (uvicorn drains, then re-raised the signal, so the process
died with -15), with one worker and with two, whether the signal goes to the
main process alone (``kill PID``) or to the whole group (systemd's default
KillMode=control-group). Real serve processes."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import pytest


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("target", ["process", "group"])
def test_sigterm_drains_and_exits_0(center_factory: Any, workers: int, target: str) -> None:
    c = center_factory(workers=workers)
    assert httpx.get(f"{c.url}/api/v1/health", timeout=10).status_code == 200
    proc = c.proc
    if target == "group":
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, c.out_path.read_text(errors="replace")[-2000:]
    assert "Traceback" not in c.out_path.read_text(errors="replace")
    c.proc = None
