"""schemathesis against /openapi.json of a running center: no 500, responses
conform to the schema (status codes, content types, bodies, headers), and
schema-invalid input is refused with a 4xx. Bounded: a few examples per call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
    "unsupported_method",
])


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_schema_violation(center_factory: Any, tmp_path: Path) -> None:
    # Fuzzing sends many wrong PIN codes: keep the per-address limit out of its way.
    c = center_factory(settings={"addr_max_failures": "1000000"})
    c.create_kit(users=5, pins=2)
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [str(exe), "run", f"{c.url}/openapi.json", "--checks", CHECKS, "--max-examples", "10",
           "--no-color", "--request-timeout", "20", "-H", f"Authorization: Bearer {c.admin_token}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env)
    tail = (res.stdout + res.stderr)[-6000:]
    assert res.returncode == 0, tail
    assert "passed" in res.stdout, tail
    log = c.log_path.read_text()
    assert log.count("\n") > 200, "schemathesis must really have called the server"
    assert '"status": 500' not in log
