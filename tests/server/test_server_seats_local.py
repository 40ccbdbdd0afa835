"""Local terminal-session seats: core/seats.py and ``licwiz run`` without a server."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from licwiz.core import fingerprint, seats
from licwiz.core.errors import LicenseInvalid, SeatError
from support.fixtures_server import PYTHON, SeatLicenses, licwiz_cmd

PRODUCT = "licwiz-demo"

# Audit session ids survive setsid(); where the kernel provides them, setsid
# processes are one session and the multi-session tests cannot build sessions.
AUDIT = fingerprint.session_id().startswith("audit:")
needs_unix_sessions = pytest.mark.skipif(AUDIT, reason="audit session ids: setsid makes no new session")


# --- the slot protocol, in one process (flock locks belong to open files, so
#     separate opens in one process conflict exactly like separate processes) ---

def test_n_sessions_get_seats_and_the_next_is_refused_with_holders(seat_dir: Path) -> None:
    table = seats.SeatTable(PRODUCT, 3)
    held = [table.acquire(f"unix:{100 + i}") for i in range(3)]
    assert sorted(s.slot for s in held) == [0, 1, 2]
    with pytest.raises(SeatError) as ei:
        table.acquire("unix:999")
    assert sorted(h["session"] for h in ei.value.holders) == ["unix:100", "unix:101", "unix:102"]
    assert all(h["user"] and h["since"] for h in ei.value.holders)
    assert "unix:101" in ei.value.detail  # the readable block lists them too
    held[1].release()
    again = table.acquire("unix:999")
    assert again.slot == 1
    assert sorted(h.session for h in seats.seat_holders(PRODUCT)) == ["unix:100", "unix:102", "unix:999"]


def test_processes_of_one_session_share_one_seat_until_the_last_leaves(seat_dir: Path) -> None:
    table = seats.SeatTable(PRODUCT, 1)
    first = table.acquire("unix:1")
    second = table.acquire("unix:1")  # same session: joins, does not need a second seat
    assert second.slot == first.slot
    first.release()  # the session's first process exits while the second still runs
    with pytest.raises(SeatError):
        table.acquire("unix:2")
    third = table.acquire("unix:1")  # a new process of the session still joins
    second.release()
    third.release()
    table.acquire("unix:2").release()  # the last one gone: the seat is free


def test_stale_record_of_a_gone_session_does_not_hold_a_seat(seat_dir: Path) -> None:
    table = seats.SeatTable(PRODUCT, 1)
    table.acquire("unix:1").release()  # its record stays in the slot file, its lock is gone
    assert seats.seat_holders(PRODUCT) == []
    s = table.acquire("unix:2")
    assert seats.seat_holders(PRODUCT)[0].session == "unix:2"
    s.release()


def test_seat_folder_is_shared_between_users(seat_dir: Path) -> None:
    table = seats.SeatTable(PRODUCT, 1)
    table.acquire("unix:1").release()
    assert seat_dir.stat().st_mode & 0o7777 == 0o1777
    assert (seat_dir / table.slot_name(0)).stat().st_mode & 0o777 == 0o644  # only its owner writes it


def test_planted_symlink_is_not_followed(seat_dir: Path, tmp_path: Path) -> None:
    seat_dir.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    table = seats.SeatTable(PRODUCT, 1)
    (seat_dir / table.slot_name(0)).symlink_to(victim)
    with pytest.raises(Exception) as ei:
        table.acquire("unix:1")
    assert getattr(ei.value, "code", "") == "seat_dir"
    assert victim.read_text() == "keep"


def test_odd_product_name_is_refused(seat_dir: Path) -> None:
    with pytest.raises(Exception) as ei:
        seats.SeatTable("../etc", 1)
    assert getattr(ei.value, "code", "") == "bad_product"


# --- N from the installed licenses -------------------------------------------------------------

def test_entitlement_sums_both_scopes_and_skips_invalid(seat_licenses: SeatLicenses) -> None:
    seat_licenses.install(2, "all-users")
    seat_licenses.install(3, "user")
    seat_licenses.install(50, "user", product="other-product")
    seat_licenses.install(40, "user", not_after=(dt.date.today() - dt.timedelta(days=1)).isoformat())
    other_computer = {k: "0" * 64 for k in fingerprint.collect(PRODUCT)}
    seat_licenses.install(30, "user", params=other_computer)
    ent = seats.entitlement(PRODUCT)
    assert ent.users == 5
    assert len(ent.problems) == 3


def test_entitlement_counts_a_license_once_and_drops_superseded(seat_licenses: SeatLicenses) -> None:
    from licwiz.core import storage

    lid, text = seat_licenses.make(4)
    storage.install_license(text, lid, "all-users")
    storage.install_license(text, lid, "user")
    assert seats.entitlement(PRODUCT).users == 4
    seat_licenses.install(6, supersedes=lid)
    assert seats.entitlement(PRODUCT).users == 6


def test_tampered_or_untrusted_license_gives_no_seat(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    from licwiz.core import storage

    lid, text = seat_licenses.make(5)
    path = storage.install_license(text.replace('"users":5', '"users":9'), lid, "all-users")
    with pytest.raises(LicenseInvalid) as ei:
        seats.acquire_seat(PRODUCT)
    assert ei.value.code == "no_license"
    assert str(path) in ei.value.detail


def test_hold_seat_context_manager(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    seat_licenses.install(1)
    with seats.hold_seat(PRODUCT, session="unix:7") as seat:
        assert seat.held
        assert [h.session for h in seats.seat_holders(PRODUCT)] == ["unix:7"]
        with pytest.raises(SeatError):
            seats.acquire_seat(PRODUCT, session="unix:8")
    assert not seat.held
    assert seats.seat_holders(PRODUCT) == []


# --- real sessions: setsid processes ------------------------------------------------------------

HOLDER = (
    "import sys, time\n"
    "from licwiz.core.seats import hold_seat\n"
    "with hold_seat('licwiz-demo'):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(60)\n"
)


def _wait_holders(n: int, timeout: float = 15) -> list[seats.Holder]:
    deadline = time.monotonic() + timeout
    while True:
        hs = seats.seat_holders(PRODUCT)
        if len(hs) == n or time.monotonic() > deadline:
            return hs
        time.sleep(0.05)


@needs_unix_sessions
def test_n_plus_one_sessions_kill_9_frees_a_seat(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    seat_licenses.install(2)
    # one session: `licwiz run` wrapping sleep; another: a program using hold_seat
    run = subprocess.Popen(licwiz_cmd("run", "--", "sleep", "60"), start_new_session=True)
    lib = subprocess.Popen([PYTHON, "-c", HOLDER], start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert lib.stdout is not None and lib.stdout.readline() == b"held\n"
        holders = _wait_holders(2)
        assert sorted(h.session for h in holders) == sorted([f"unix:{run.pid}", f"unix:{lib.pid}"])
        third = subprocess.run(licwiz_cmd("run", "--", "true"), start_new_session=True,
                               capture_output=True, text=True, timeout=30)
        assert third.returncode == 75, third.stderr
        assert "no seat free" in third.stderr
        assert f"session unix:{run.pid}" in third.stderr and f"session unix:{lib.pid}" in third.stderr
        os.kill(lib.pid, signal.SIGKILL)  # no cleanup by hand: the kernel drops its lock
        lib.wait(10)
        fourth = subprocess.run(licwiz_cmd("run", "--wait", "10", "--", "sh", "-c", "exit 3"),
                                start_new_session=True, capture_output=True, text=True, timeout=30)
        assert fourth.returncode == 3, fourth.stderr
    finally:
        for p in (run, lib):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    assert _wait_holders(0) == []


@needs_unix_sessions
def test_two_processes_of_one_session_use_one_seat(seat_licenses: SeatLicenses, seat_dir: Path,
                                                   tmp_path: Path) -> None:
    seat_licenses.install(1)
    lic = " ".join(licwiz_cmd("run", "--"))
    out, second, first_done, go = (tmp_path / n for n in ("out", "second", "first-done", "go"))
    # One session, two product runs; the first ends (once the second runs) while
    # the second still runs. Files say when each step is reached: on a busy
    # machine a licwiz start can take longer than any fixed pause.
    wait_for = "while [ ! -e {} ]; do sleep 0.05; done"
    script = (f"{lic} sh -c 'echo a >> {out}; {wait_for.format(second)}' & first=$!; "
              f"{lic} sh -c 'touch {second}; {wait_for.format(go)}; echo b >> {out}' & "
              f"wait $first; touch {first_done}; wait")
    sess = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not first_done.exists():  # first gone, second still running: the session holds its seat
            assert time.monotonic() < deadline and sess.poll() is None, "the first run never ended"
            time.sleep(0.05)
        other = subprocess.run(licwiz_cmd("run", "--", "true"), start_new_session=True,
                               capture_output=True, text=True, timeout=30)
        assert other.returncode == 75, other.stderr
        assert f"session unix:{sess.pid}" in other.stderr
        go.touch()
        assert sess.wait(30) == 0
    finally:
        if sess.poll() is None:
            os.killpg(sess.pid, signal.SIGKILL)
    assert sorted(out.read_text().split()) == ["a", "b"]
    ok = subprocess.run(licwiz_cmd("run", "--", "true"), start_new_session=True, timeout=30)
    assert ok.returncode == 0


# --- licwiz run, the wrapper ------------------------------------------------------------------

def test_run_forwards_sigterm_and_reports_the_signal(seat_licenses: SeatLicenses, seat_dir: Path,
                                                      tmp_path: Path) -> None:
    seat_licenses.install(1)
    flag = tmp_path / "got-term"
    child = f"trap 'touch {flag}; exit 9' TERM; while true; do sleep 0.05; done"
    p = subprocess.Popen(licwiz_cmd("run", "--", "sh", "-c", child), start_new_session=True)
    assert len(_wait_holders(1)) == 1
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 9
    assert flag.exists()


def test_run_exit_codes_without_license_and_without_command(seat_dir: Path) -> None:
    r = subprocess.run(licwiz_cmd("run", "--", "true"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 77
    assert "no valid license" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(licwiz_cmd("run"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 64


def test_run_missing_command_is_127(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    seat_licenses.install(1)
    from licwiz.cli import run

    assert run.main(["--", "/nonexistent/cmd-xyz"]) == 127
    assert run.main(["--", sys.executable, "-c", "raise SystemExit(5)"]) == 5
    assert seats.seat_holders(PRODUCT) == []


def test_run_command_the_kernel_cannot_execute_is_126(seat_licenses: SeatLicenses, seat_dir: Path,
                                                     tmp_path: Path) -> None:
    seat_licenses.install(1)
    script = tmp_path / "no-shebang"
    script.write_bytes(b"\x7fELF garbage, not a program for this machine\n")
    script.chmod(0o755)
    r = subprocess.run(licwiz_cmd("run", "--", str(script)), capture_output=True, text=True, timeout=30)
    assert r.returncode == 126, r.stderr
    assert "cannot be run" in r.stderr and str(script) in r.stderr and "Traceback" not in r.stderr
    assert seats.seat_holders(PRODUCT) == []


CLAIMER = (
    "import sys\n"
    "from licwiz.core.seats import SeatTable\n"
    "from licwiz.core.errors import SeatError\n"
    "sys.stdin.readline()\n"  # start together
    "try:\n"
    "    s = SeatTable('licwiz-demo', 5).acquire(sys.argv[1])\n"
    "    print('ok', s.slot, flush=True)\n"
    "except SeatError:\n"
    "    print('refused', flush=True)\n"
    "sys.stdin.readline()\n"  # hold until told to stop
)


def test_concurrent_claimers_never_exceed_n(seat_dir: Path) -> None:
    procs = [subprocess.Popen([PYTHON, "-c", CLAIMER, f"unix:{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for i in range(12)]
    try:
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        answers = [p.stdout.readline().split() for p in procs if p.stdout is not None]
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
    granted = [a for a in answers if a[0] == "ok"]
    assert len(granted) == 5
    assert sorted(int(a[1]) for a in granted) == [0, 1, 2, 3, 4]
    assert sum(a == ["refused"] for a in answers) == 7
