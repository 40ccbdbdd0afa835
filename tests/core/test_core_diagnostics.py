"""``licwiz fingerprint`` and ``licwiz verify``: output, exit codes, non-root use."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from licwiz.cli import diagnostics as diag
from licwiz.cli.errors import DiagnosticsExit as Exit
from licwiz.core import fingerprint as fp
from licwiz.core.storage import install_license
from support.fixtures_core import CORE_PRODUCT, core_fake_root

Sign = Callable[..., str]


def here() -> dict[str, str]:
    return fp.collect(CORE_PRODUCT)


def write(tmp_path: Path, text: str, name: str = "x.lic") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_fingerprint_text_shows_digests_not_raw_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert diag.cmd_fingerprint([]) == 0
    out = capsys.readouterr().out
    raw = fp.collect_raw()
    for name, digest in here().items():
        assert f"{name}" in out and digest in out
        assert raw[name] not in out
    assert diag.cmd_fingerprint(["--show-raw"]) == 0
    out = capsys.readouterr().out
    assert all(value in out for value in raw.values())


def test_fingerprint_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = core_fake_root(tmp_path, full=False)
    assert diag.cmd_fingerprint(["--json", "--root", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["params"] == fp.collect(CORE_PRODUCT, root=root)
    assert doc["missing"] == ["machine_id", "mac", "root_fs", "dmi_uuid"]
    assert doc["session_id"] == fp.session_id()
    assert "raw" not in doc
    assert diag.cmd_fingerprint(["--json", "--show-raw", "--root", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["raw"]["cpu"] == "GenuineIntel/6/85/7"


def test_usage_error_is_code_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert diag.cmd_fingerprint(["--nope"]) == 2
    assert diag.cmd_verify([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "licwiz verify" in err


def test_what_if_given_file(core_sign: Sign, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, core_sign(params=here()), "good.lic")
    assert diag.cmd_fingerprint(["--what-if", str(good)]) == 0
    out = capsys.readouterr().out
    assert "valid on this computer" in out and "signature: valid" in out
    moved = {**here(), "machine_id": "0" * 64, "cpu": "1" * 64}
    bad = write(tmp_path, core_sign(params=moved), "bad.lic")
    assert diag.cmd_fingerprint(["--json", "--what-if", str(bad)]) == Exit.COMPUTER
    cap = capsys.readouterr()
    report = json.loads(cap.out)["what_if"][0]
    assert report["match"]["changed"] == ["machine_id", "cpu"]
    assert not report["match"]["ok"] and "different computer" in cap.err
    assert len(cap.err.strip().splitlines()) == 1


def test_what_if_installed_licenses(core_sign: Sign, capsys: pytest.CaptureFixture[str]) -> None:
    assert diag.cmd_fingerprint(["--what-if"]) == Exit.NOTHING
    capsys.readouterr()
    short = {n: d[:6] for n, d in here().items()}  # a phone license carries prefixes
    install_license(core_sign(params=short), "1234567890-001", "user")
    install_license(core_sign(license_id="1234567890-002", params={**here(), "mac": "ab" * 32}),
                    "1234567890-002", "all-users")
    assert diag.cmd_fingerprint(["--json", "--what-if"]) == 0
    reports = json.loads(capsys.readouterr().out)["what_if"]
    assert [r["license_id"] for r in reports] == ["1234567890-002", "1234567890-001"]
    assert all(r["match"]["ok"] for r in reports)
    assert reports[0]["match"]["changed"] == ["mac"]


def test_what_if_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert diag.cmd_fingerprint(["--what-if", str(tmp_path / "missing.lic")]) == Exit.FILE
    assert "cannot read" in capsys.readouterr().err


def test_verify_valid(core_sign: Sign, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, core_sign(params=here()))
    assert diag.cmd_verify([str(p)]) == 0
    out = capsys.readouterr().out
    assert "1234567890-001" in out and "VALID on this computer" in out
    assert diag.cmd_verify([str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["license"]["regnum"] == "1234567890" and doc["error"] is None


def cases(sign: Sign) -> list[tuple[str, str, int]]:
    today = dt.date.today()
    text = sign(params=here())
    return [
        ("altered", text.replace('"users":1', '"users":9'), Exit.SIGNATURE),
        ("garbage", "hello\n", Exit.FILE),
        ("truncated", text[: len(text) // 2], Exit.FILE),
        ("product", sign(params=here(), product="other-product"), Exit.PRODUCT),
        ("expired", sign(params=here(), issued=(today - dt.timedelta(days=30)).isoformat(),
                         not_after=(today - dt.timedelta(days=1)).isoformat()), Exit.DATES),
        ("future", sign(params=here(), issued=(today + dt.timedelta(days=2)).isoformat()), Exit.DATES),
        ("computer", sign(params={**here(), "machine_id": "f" * 64}), Exit.COMPUTER),
    ]


def test_verify_failures_have_distinct_codes_and_one_line(
    core_sign: Sign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text, code in cases(core_sign):
        p = write(tmp_path, text, f"{name}.lic")
        assert diag.cmd_verify([str(p)]) == code, name
        cap = capsys.readouterr()
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("licwiz: ") and "Traceback" not in cap.err, name
        if code != Exit.FILE:
            assert "License 1234567890-001" in cap.out
        assert diag.cmd_verify([str(p), "--json"]) == code
        cap = capsys.readouterr()
        if code != Exit.FILE:
            assert json.loads(cap.out)["valid"] is False
    codes = {c for _, _, c in cases(core_sign)}
    assert codes == {3, 4, 5, 6, 7}


def test_verify_unknown_key(core_sign: Sign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, core_sign(params=here()))
    monkeypatch.delenv("LICWIZ_TRUSTED_KEYS")
    assert diag.cmd_verify([str(p)]) == Exit.SIGNATURE
    cap = capsys.readouterr()
    assert "unknown key" in cap.err and "NOT verified" in cap.out


def test_verify_missing_and_oversized_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert diag.cmd_verify([str(tmp_path / "nope.lic")]) == Exit.FILE
    big = tmp_path / "big.lic"
    big.write_bytes(b"x" * 10_000_000)
    assert diag.cmd_verify([str(big)]) == Exit.FILE
    assert "too large" in capsys.readouterr().err


def _as_nobody() -> list[str] | None:
    if os.geteuid() != 0:
        return []  # already not root
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


def test_fingerprint_json_as_non_root_user(tmp_path: Path, reachable_checkout: None) -> None:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("neither setpriv nor runuser is available to drop root")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LICWIZ_USER_DIR": str(home / "state"), "LICWIZ_ALL_USERS_DIR": str(home / "all"),
           "XDG_CONFIG_HOME": str(home / "config"), "LICWIZ_PRODUCT": CORE_PRODUCT}
    cmd = [*prefix, sys.executable, "-c", "import sys; from licwiz.cli.main import main; sys.exit(main())",
           "fingerprint", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    code = "import os; print(os.geteuid())"
    uid = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=home, timeout=60).stdout.strip()
    assert uid != "0"
    # What a non-root user can read gives the same digests root sees for it.
    mine = here()
    assert doc["params"] and all(mine.get(n) == d for n, d in doc["params"].items())
    # And with a container-like root (no /sys, no machine-id) it still works.
    # (pytest's tmp_path is private to root, so the tree goes in a world-readable temp dir)
    with tempfile.TemporaryDirectory(prefix="licwiz-core-") as shared:
        os.chmod(shared, 0o755)
        fake = core_fake_root(Path(shared), full=False)
        for d in (fake, *fake.rglob("*")):
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        out = subprocess.run([*cmd, "--root", str(fake)], capture_output=True, text=True, env=env,
                             cwd=home, timeout=60)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)["params"]) == {"cpu", "ram", "os"}


def test_a_closed_pipe_ends_output_quietly() -> None:
    """licwiz fingerprint | true (the reader is gone before the first write):
    no 'Broken pipe' complaint, no traceback."""
    import subprocess
    import sys

    out = subprocess.run(f"{sys.executable} -m licwiz.cli fingerprint --show-raw | true",
                         shell=True, capture_output=True, text=True, timeout=60)
    assert out.stderr == "", out.stderr


SUPERSEDED_EXIT = 9


def test_superseded_license_reads_the_same_in_verify_what_if_and_status(
    core_sign: Sign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14.13: after an update the old license is kept in place but superseded;
    status, verify and fingerprint --what-if must all say so (they disagreed)."""
    from licwiz.cli import acquire as acquire_cli

    old = install_license(core_sign(params=here()), "1234567890-001", "user")
    new = install_license(core_sign(license_id="1234567890-002", supersedes="1234567890-001", params=here()),
                          "1234567890-002", "user")
    assert acquire_cli.cmd_status([]) == 0  # the newer one is valid
    out = capsys.readouterr().out
    assert "NOT valid: superseded by license 1234567890-002" in out

    assert diag.cmd_verify([str(old)]) == SUPERSEDED_EXIT
    cap = capsys.readouterr()
    assert "VALID" not in cap.out and "NOT valid (superseded)" in cap.out
    assert "superseded by license 1234567890-002" in cap.err
    assert diag.cmd_verify([str(old), "--json"]) == SUPERSEDED_EXIT
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["error"]["code"] == "superseded"
    assert doc["exit_code"] == SUPERSEDED_EXIT
    assert diag.cmd_verify([str(new)]) == 0
    assert "VALID on this computer" in capsys.readouterr().out

    assert diag.cmd_fingerprint(["--what-if", str(old)]) == SUPERSEDED_EXIT
    cap = capsys.readouterr()
    assert "valid on this computer" not in cap.out
    assert "NOT valid here (superseded by license 1234567890-002)" in cap.out
    # every installed license: the old one says superseded, the newer one decides the exit code
    assert diag.cmd_fingerprint(["--json", "--what-if"]) == 0
    reports = {r["license_id"]: r for r in json.loads(capsys.readouterr().out)["what_if"]}
    assert reports["1234567890-001"]["valid"] is False
    assert reports["1234567890-001"]["code"] == "superseded"
    assert reports["1234567890-002"]["valid"] is True
    # the same file outside the license folders is still the superseded license
    copy = write(tmp_path, old.read_text(), "copy.lic")
    assert diag.cmd_verify([str(copy)]) == SUPERSEDED_EXIT
