"""The systemd units in packaging/systemd/: systemd's own checks, the hardening an
operator relies on, and their command lines run for real.

- ``systemd-analyze verify`` on a copy whose ExecStart names this checkout's
  ``licwiz`` (verify refuses a unit whose executable does not exist; /opt/licwiz is
  where the README installs it). verify exits 0 on an unknown key or a bad value,
  so any line it prints about the unit fails the test too.
- ``systemd-analyze security --offline=yes``: the exposure score stays low.
- The unit files parsed: every hardening line is there (a removed line fails).
- ExecStart, with the unit's Environment= and the example environment file, run as
  systemd would (paths moved into a temporary folder): the service answers its
  health check, and KillSignal= stops it with exit 0 within TimeoutStopSec=.

systemd-analyze missing: the systemd tests skip, naming why; under CI (CI=true)
they fail instead, since .ci/run installs systemd.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "packaging" / "systemd"
INSTALLED_LICWIZ = "/opt/licwiz/bin/licwiz"
UNIT_NAMES = ("licwiz-center.service", "licwiz-server.service")

# Per unit: its short name, state folder, environment example and the variable
# that names its state folder for the code (center/keystore.py, server/cli.py).
SERVICES = {
    "licwiz-center.service": ("center", "/var/lib/licwiz-center", "center.env.example", "LICWIZ_CENTER_HOME"),
    "licwiz-server.service": ("server", "/var/lib/licwiz-server", "server.env.example", "LICWIZ_SERVER_DIR"),
}

# Every unit must carry these lines with these exact values.
HARDENING = {
    "Type": "exec",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "UMask": "0077",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateMounts": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "RemoveIPC": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "SystemCallArchitectures": "native",
    "StateDirectoryMode": "0700",
    "ConfigurationDirectory": "licwiz",
}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("systemd-analyze is missing under CI: .ci/run installs Debian's systemd package")
    pytest.skip("systemd-analyze is not installed (Debian package: systemd)")


def licwiz_bin() -> Path:
    """This checkout's console script (beside the interpreter running the tests)."""
    beside = Path(sys.executable).with_name("licwiz")
    found = beside if beside.is_file() else Path(shutil.which("licwiz") or "")
    assert found.is_file() and os.access(found, os.X_OK), f"no licwiz executable beside {sys.executable}"
    return found


def parse_unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order; keys may repeat."""
    rows: list[tuple[str, str, str]] = []
    section = ""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not an assignment: {raw!r}"
        rows.append((section, key.strip(), value.strip()))
    return rows


def service_values(path: Path, key: str) -> list[str]:
    return [v for s, k, v in parse_unit(path) if s == "Service" and k == key]


def service_value(path: Path, key: str) -> str:
    values = service_values(path, key)
    assert len(values) == 1, f"{path.name}: {key}= appears {len(values)} times, expected once"
    return values[0]


def parse_env_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile= syntax, as far as our examples use it."""
    env: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path.name}: bad line {raw!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def copy_with_local_licwiz(unit: Path, dest: Path) -> Path:
    text = unit.read_text(encoding="utf-8")
    assert INSTALLED_LICWIZ in text, f"{unit.name}: ExecStart no longer names {INSTALLED_LICWIZ}"
    out = dest / unit.name
    out.write_text(text.replace(INSTALLED_LICWIZ, str(licwiz_bin())), encoding="utf-8")
    return out


def verify(unit: Path) -> tuple[int, list[str]]:
    res = subprocess.run([systemd_analyze(), "verify", "--man=no", str(unit)], capture_output=True,
                         text=True, timeout=60)
    # Lines about our unit (other units of the host are not ours to judge).
    ours = [ln for ln in (res.stdout + res.stderr).splitlines() if unit.name in ln or str(unit.parent) in ln]
    return res.returncode, ours


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    unit = copy_with_local_licwiz(UNITS / name, tmp_path)
    rc, lines = verify(unit)
    assert rc == 0 and lines == [], f"systemd-analyze verify {name}: exit {rc}\n" + "\n".join(lines)


def test_verify_catches_a_missing_executable_and_a_bad_line(tmp_path: Path) -> None:
    """The check above can fail: verify names a missing ExecStart binary and an unknown key."""
    unit = copy_with_local_licwiz(UNITS / "licwiz-center.service", tmp_path)
    text = unit.read_text(encoding="utf-8")
    unit.write_text(text.replace(str(licwiz_bin()), str(tmp_path / "no-such-licwiz")), encoding="utf-8")
    rc, lines = verify(unit)
    assert rc != 0 and any("no-such-licwiz" in ln for ln in lines), lines
    unit.write_text(text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomes=yes"), encoding="utf-8")
    rc, lines = verify(unit)
    assert any("ProtectHomes" in ln for ln in lines), lines


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_systemd_security_exposure_is_low(name: str, tmp_path: Path) -> None:
    """systemd's own exposure score (0 best, 10 worst; these units score about 1.5)."""
    unit = copy_with_local_licwiz(UNITS / name, tmp_path)
    res = subprocess.run([systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
                         capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout)
    assert m, f"no exposure level in:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    assert float(m.group(1)) <= 2.0, f"{name}: exposure {m.group(1)}:\n{res.stdout}"


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_hardening_lines_present(name: str) -> None:
    unit = UNITS / name
    short, state_dir, env_example, _ = SERVICES[name]
    missing = {k: v for k, v in HARDENING.items() if service_values(unit, k) != [v]}
    assert missing == {}, f"{name}: lines missing or changed: {missing}"
    assert service_value(unit, "User") == f"licwiz-{short}" == service_value(unit, "Group")
    assert service_values(unit, "DynamicUser") == []
    assert service_value(unit, "StateDirectory") == f"licwiz-{short}" == Path(state_dir).name
    assert service_value(unit, "EnvironmentFile") == f"-/etc/licwiz/{short}.env"
    assert float(service_value(unit, "TimeoutStopSec")) > 0
    filters = service_values(unit, "SystemCallFilter")
    assert "@system-service" in filters and "~@privileged @resources" in filters, filters
    exec_start = shlex.split(service_value(unit, "ExecStart"))
    assert exec_start[:3] == [INSTALLED_LICWIZ, short, "serve"] and exec_start[-1] == "$SERVE_OPTS"
    for s, k, _ in parse_unit(unit):
        assert not (s == "Unit" and k == "Requires"), f"{name}: a hard Requires= would stop with its target"
    assert (UNITS / env_example).is_file()


def test_sysusers_file_makes_both_users(tmp_path: Path) -> None:
    """packaging/systemd/licwiz.sysusers.conf creates the units' User= (in a scratch root)."""
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        systemd_analyze()  # skip or fail the same way as the other systemd checks
        pytest.skip("systemd-sysusers is not installed (Debian package: systemd)")
    (tmp_path / "etc").mkdir()
    res = subprocess.run([sysusers, f"--root={tmp_path}", str(UNITS / "licwiz.sysusers.conf")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    users = {line.split(":")[0]: line.split(":") for line in passwd}
    for name in UNIT_NAMES:
        user = service_value(UNITS / name, "User")
        assert user in users, f"{user} not created: {sorted(users)}"
        assert users[user][5] == SERVICES[name][1]  # home = the state folder
        assert users[user][6].endswith("nologin")


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_env_example_names_variables_the_code_reads(name: str) -> None:
    """A renamed variable in the code would leave the example setting nothing."""
    env_example = SERVICES[name][2]
    text = (UNITS / env_example).read_text(encoding="utf-8")
    names = set(re.findall(r"^#?(LICWIZ_[A-Z_]+)=", text, flags=re.M))
    assert names, f"{env_example} names no LICWIZ_ variable"
    folders = ("core", "center", "server", "cli", "service")
    sources = "\n".join(p.read_text(encoding="utf-8") for f in folders for p in (REPO / f).rglob("*.py"))
    unread = sorted(n for n in names if f'"{n}"' not in sources)
    assert unread == [], f"{env_example} sets variables no module reads: {unread}"
    assert "SERVE_OPTS" in text


# --- the units' command lines, run as systemd would run them --------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expand_exec(argv: list[str], env: dict[str, str]) -> list[str]:
    """systemd's rule: a lone ``$VAR`` word splits into words, ``${VAR}`` stays one word."""
    out: list[str] = []
    for word in argv:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            out.extend(env.get(m.group(1), "").split())
        else:
            out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda g: env.get(g.group(1), ""), word))
    return out


def unit_environment(unit: Path, root: Path, serve_opts: str) -> dict[str, str]:
    """Environment= then the example EnvironmentFile (which wins), /var moved under ``root``;
    SERVE_OPTS as an operator would set it in the file."""
    env: dict[str, str] = {}
    for line in service_values(unit, "Environment"):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    env.update(parse_env_file(UNITS / SERVICES[unit.name][2]))
    env["SERVE_OPTS"] = serve_opts
    return {k: v.replace("/var/", f"{root}/var/") for k, v in env.items()}


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str], out: Path) -> Iterator[subprocess.Popen[bytes]]:
    with out.open("wb") as fh:
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, out: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode}: {out.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"no answer from {url} in {timeout}s: {out.read_text(errors='replace')[-2000:]}")


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_exec_start_serves_and_stops_cleanly(name: str, tmp_path: Path) -> None:
    """The install recipe (init as the service user, then ExecStart), without systemd itself."""
    unit = UNITS / name
    short, state_dir, _, state_var = SERVICES[name]
    port = free_port()
    # SERVE_OPTS comes last on the command line: its --port must override the unit's.
    env_unit = unit_environment(unit, tmp_path, f"--port {port}")
    assert env_unit[state_var] == f"{tmp_path}{state_dir}"
    for d in ("var/lib", "var/log"):  # StateDirectory= / LogsDirectory= make these
        (tmp_path / d / f"licwiz-{short}").mkdir(parents=True, mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_")}
    env.update(env_unit)
    lic = str(licwiz_bin())

    init = subprocess.run([lic, short, "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    assert Path(env_unit[state_var]).is_dir() and any(Path(env_unit[state_var]).iterdir())

    argv = expand_exec(shlex.split(service_value(unit, "ExecStart")), env)
    argv = [a.replace("/var/", f"{tmp_path}/var/") for a in argv]
    assert argv[0] == INSTALLED_LICWIZ
    argv[0] = lic
    out = tmp_path / "serve.out"
    with running(argv, env, out) as proc:
        wait_healthy(proc, f"http://127.0.0.1:{port}/api/v1/health", out)
        if "--log-file" in argv:  # the center's request log lands in LogsDirectory=
            log = Path(argv[argv.index("--log-file") + 1])
            assert log.parent == tmp_path / "var" / "log" / f"licwiz-{short}"
            deadline = time.monotonic() + 10
            while not (log.is_file() and log.stat().st_size) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert log.is_file() and '"/api/v1/health"' in log.read_text(), "no request logged"
        kill_signal = getattr(signal, service_value(unit, "KillSignal"))
        proc.send_signal(kill_signal)
        rc = proc.wait(float(service_value(unit, "TimeoutStopSec")))
    # systemd counts both as a clean stop: exit 0, or death by SIGHUP/SIGINT/SIGTERM/SIGPIPE
    # (uvicorn re-raises the signal after its graceful shutdown). Anything else would be a
    # failed unit and, with Restart=on-failure, a restart loop on every stop.
    tail = out.read_text(errors="replace")[-2000:]
    assert rc in (0, -kill_signal), f"{name}: exit {rc} after KillSignal: {tail}"
