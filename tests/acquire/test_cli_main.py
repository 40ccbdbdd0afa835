"""cli/main.py: the dispatcher, its one-line errors, and what a light command loads."""

from __future__ import annotations

import subprocess
import sys

import pytest
from licwiz.cli.main import COMMANDS, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in COMMANDS)


def test_unknown_command_and_bad_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["acquire", "--kit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("licwiz: ") and "[usage]" in err
    assert "licwiz acquire --help" in err


def test_a_commands_help_exits_0_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("status", "install", "fingerprint", "run"):
        assert main([name, "--help"]) == 0, name
        assert "usage: licwiz" in capsys.readouterr().out, name


def test_light_commands_load_no_ui_and_no_services() -> None:
    """``licwiz fingerprint`` and ``licwiz --help`` stay quick: no Textual, no Starlette."""
    code = (
        "import sys, io, contextlib\n"
        "from licwiz.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['--help']) == 0 and main(['fingerprint', '--json']) == 0\n"
        "heavy = ('textual', 'starlette', 'sqlalchemy', 'uvicorn')\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_python_dash_m_runs_the_same_command_line() -> None:
    out = subprocess.run([sys.executable, "-m", "licwiz.cli", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "usage: licwiz" in out.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from licwiz.core import __version__

    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == f"licwiz {__version__}\n"


@pytest.mark.parametrize(("command", "blocked", "extra"), [
    (["center", "kit", "list"], "sqlalchemy", "licwiz[center]"),
    (["server", "init", "--db", "/nonexistent/server.db"], "sqlalchemy", "licwiz[server]"),
])
def test_a_service_without_its_extra_names_the_extra(command: list[str], blocked: str, extra: str) -> None:
    """`pip install licwiz` has no service dependencies: their commands say what to install
    (packaging/wheel-check.sh shows the same in a real install without the extras)."""
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if the extra were not installed\n"
        "from licwiz.cli.main import main\n"
        f"sys.exit(main({command!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"pip install '{extra}'" in proc.stderr and blocked in proc.stderr
