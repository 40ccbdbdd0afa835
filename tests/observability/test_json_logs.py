"""Every line a serve run writes (start-up, requests, a refusal, SIGTERM) is
one JSON object, ours and uvicorn's alike; each request line names the client
address; an incoming X-Request-Id is kept (answered and logged) when it is
usable, else replaced."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from observability.procs import ObservedCenter
from support.fixtures_server import LicenseServer

# cli/center.py prints this one line itself before the service starts (not yet through logging).
CLI_BANNER = "licwiz center: serving "


def _json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(CLI_BANNER):
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return out


def _requests(url: str) -> tuple[str, str]:
    kept = httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": "edge-42.abc"})
    assert kept.headers["x-request-id"] == "edge-42.abc"
    bad = httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": "x" * 101})
    assert bad.headers["x-request-id"] != "x" * 101
    with_space = httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": "a b"})
    assert with_space.headers["x-request-id"] != "a b"
    refused = httpx.get(f"{url}/no/such/page", headers={"X-Request-Id": "refusal-1"})
    assert refused.status_code == 404
    return "edge-42.abc", bad.headers["x-request-id"]


def _check_access(lines: list[dict[str, Any]], kept: str, made: str) -> None:
    access = [x for x in lines if x.get("logger") == "licwiz.access"]
    by_id = {x["id"]: x for x in access}
    assert by_id[kept]["client"] == "127.0.0.1" and by_id[kept]["status"] == 200
    assert made in by_id
    assert by_id["refusal-1"]["status"] == 404 and by_id["refusal-1"]["code"] == "not_found"
    assert all(x["client"] == "127.0.0.1" for x in access)


def test_center_serve_writes_only_json(tmp_path: Path) -> None:
    c = ObservedCenter(tmp_path / "c")
    c.start()
    kept, made = _requests(c.url)
    c.stop()  # SIGTERM: the shutdown lines are JSON too
    out = _json_lines(c.out_path.read_text())
    log = _json_lines(c.log_path.read_text())
    _check_access(log, kept, made)
    msgs = [x["msg"] for x in out]
    assert any("startup complete" in m for m in msgs) and any("Finished server process" in m for m in msgs)


def test_server_serve_writes_only_json(license_server_factory: Callable[[str | None], LicenseServer],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "server-access.log"
    monkeypatch.setenv("LICWIZ_SERVER_LOG_FILE", str(log_file))
    srv = license_server_factory(None)
    sp = srv.start()
    kept, made = _requests(sp.url)
    claim = httpx.post(f"{sp.url}/api/v1/seats", json={"session": "s", "host": "h", "user": "u"},
                       headers={"Authorization": "Bearer wrong", "X-Request-Id": "claim-1"})
    assert claim.status_code == 403 and claim.json()["error"]["request_id"] == "claim-1"
    srv.stop()
    out = _json_lines(sp.log.read_text())  # stdout and stderr of the process
    log = _json_lines(log_file.read_text())
    _check_access(log, kept, made)
    assert [x["code"] for x in log if x["id"] == "claim-1"] == ["forbidden"]
    assert log_file.stat().st_mode & 0o777 == 0o600
    msgs = [x["msg"] for x in out]
    assert any(m.startswith("licwiz license server on") for m in msgs)
    assert any("Finished server process" in m for m in msgs)
