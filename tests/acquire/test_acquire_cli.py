"""``licwiz acquire`` and ``licwiz status`` as subprocesses: exit codes, the
one-line stderr, --json on stdout. The center here is the fake center (a real
HTTP server in this process, see fixtures_acquire.py); the real center's
refusals are covered in test_acquire_center.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.storage import installed_files, license_dir

LICWIZ = [sys.executable, "-m", "licwiz.cli"]


def licwiz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LICWIZ, *args], capture_output=True, text=True, timeout=60)


def acquire_args(url: str, owner_file: Path, *extra: str, scope: str = "user") -> list[str]:
    return ["acquire", "--kit", new_regnum(), "--pin", new_pin(), "--owner-file", str(owner_file),
            "--operation", "first", "--scope", scope, "--center", url, *extra]


def one_line(stderr: str, code: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("licwiz: ") and lines[0].endswith(f"[{code}]"), stderr


def test_acquire_installs_and_prints_json(acq_fake_center: Any, acq_owner_file: Path) -> None:
    r = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file, "--json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["license"]["scope"] == "user"
    path = Path(doc["license"]["path"])
    assert path.parent == license_dir("user") and path.is_file()
    assert r.stderr == ""

    st = licwiz("status", "--json")
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["valid"] is True
    [row] = status["licenses"]
    assert row["path"] == str(path) and row["valid"] is True and row["scope"] == "user"
    assert row["license_id"] == doc["license"]["license_id"]


def test_status_reports_a_tampered_file_as_invalid(acq_fake_center: Any, acq_owner_file: Path) -> None:
    r = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file, "--json"))
    path = Path(json.loads(r.stdout)["license"]["path"])
    path.write_text(path.read_text().replace('"users":1', '"users":9'))
    st = licwiz("status", "--json")
    assert st.returncode == 1
    [row] = json.loads(st.stdout)["licenses"]
    assert row["valid"] is False and row["code"] == "bad_signature"
    plain = licwiz("status")
    assert "NOT valid" in plain.stdout and str(path) in plain.stdout


def test_status_without_licenses(tmp_path: Path) -> None:
    st = licwiz("status", "--json")
    assert st.returncode == 1
    assert json.loads(st.stdout)["licenses"] == []


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"--kit": "1234567891"}, "check_digit", "Registration number"),
        ({"--pin": "12345"}, "bad_length", "--pin"),
        ({"--operation": "sideways"}, "usage", "--operation"),
    ],
)
def test_bad_input_exit_2_one_line(
    acq_fake_center: Any, acq_owner_file: Path, change: dict[str, str], code: str, field: str
) -> None:
    args = acquire_args(acq_fake_center.url, acq_owner_file)
    for opt, value in change.items():
        args[args.index(opt) + 1] = value
    r = licwiz(*args)
    assert r.returncode == 2
    one_line(r.stderr, code)
    assert field in r.stderr
    assert acq_fake_center.activations == 0


def test_recover_needs_the_last_pin(acq_fake_center: Any, acq_owner_file: Path) -> None:
    args = acquire_args(acq_fake_center.url, acq_owner_file)
    args[args.index("--operation") + 1] = "update"
    r = licwiz(*args)  # update without --extra-pin
    assert r.returncode == 2
    one_line(r.stderr, "usage")
    assert "--extra-pin" in r.stderr


def test_bad_owner_file_exit_2(acq_fake_center: Any, tmp_path: Path) -> None:
    bad = tmp_path / "owner.json"
    bad.write_text("{not json")
    r = licwiz(*acquire_args(acq_fake_center.url, bad))
    assert r.returncode == 2
    one_line(r.stderr, "bad_file")
    assert str(bad) in r.stderr


def test_refused_exit_3_with_detail_only_when_verbose(acq_fake_center: Any, acq_owner_file: Path) -> None:
    acq_fake_center.mode = "refuse"
    r = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file))
    assert r.returncode == 3
    one_line(r.stderr, "pin_used")
    v = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file, "--verbose", "--json"))
    assert v.returncode == 3
    assert "PIN spent on 2026-01-01" in v.stderr
    doc = json.loads(v.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 3 and doc["error"]["code"] == "pin_used"
    assert doc["error"]["request_id"] == "fake-req-2"


def test_unreachable_exit_4(acq_owner_file: Path) -> None:
    r = licwiz(*acquire_args("http://127.0.0.1:9", acq_owner_file))
    assert r.returncode == 4
    one_line(r.stderr, "unreachable")


def test_tampered_exit_6_nothing_installed(acq_fake_center: Any, acq_owner_file: Path) -> None:
    acq_fake_center.mode = "tamper"
    r = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file, "--verbose", "--json"))
    assert r.returncode == 6
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "bad_signature" and err["after_activation"] and not err["verified"]
    assert Path(err["saved_to"]).read_text().startswith("-----BEGIN LICWIZ LICENSE-----")
    # with --verbose: the progress lines, the one error line, then the detail
    errors = [ln for ln in r.stderr.splitlines() if ln.endswith("]") and ln.startswith("licwiz: ")]
    assert len(errors) == 1 and errors[0].endswith("[bad_signature]"), r.stderr
    assert "licwiz: Verifying the license..." in r.stderr
    assert "NOT installed" in r.stderr
    assert installed_files() == []


def test_not_writable_exit_5(acq_fake_center: Any, acq_owner_file: Path) -> None:
    target = license_dir("all-users")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("a file where the folder should be")
    r = licwiz(*acquire_args(acq_fake_center.url, acq_owner_file, scope="all-users"))
    assert r.returncode == 5
    one_line(r.stderr, "not_writable")
    assert acq_fake_center.activations == 0


def test_status_lists_seat_holders(acq_fake_center: Any, acq_owner_file: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from licwiz.core.seats import hold_seat

    monkeypatch.setenv("LICWIZ_SEAT_DIR", str(tmp_path / "seats"))
    assert licwiz(*acquire_args(acq_fake_center.url, acq_owner_file)).returncode == 0
    with hold_seat("licwiz-demo", session="test-session-1"):
        st = licwiz("status", "--json")
        plain = licwiz("status")
    doc = json.loads(st.stdout)
    assert doc["users"] == 1
    assert [(h["session"], h["pid"]) for h in doc["seats"]] == [("test-session-1", os.getpid())]
    assert "Seats in use: 1 of 1" in plain.stdout and "session test-session-1" in plain.stdout
    after = json.loads(licwiz("status", "--json").stdout)
    assert after["seats"] == []


def test_wizard_and_status_bad_option_one_line() -> None:
    for cmd in ("wizard", "status", "demo"):
        r = licwiz(cmd, "--no-such-option")
        assert r.returncode == 2, (cmd, r.stderr)
        one_line(r.stderr, "usage")
        assert "--no-such-option" in r.stderr
