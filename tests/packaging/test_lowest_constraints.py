"""packaging/lowest-constraints.py, run as ``make test-lowest`` runs it: a real
process on a pyproject.toml, its constraints file read back."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packaging" / "lowest-constraints.py"

SAMPLE = """
[project]
name = "Demo_Pkg"
version = "1"
dependencies = [
    "textual>=8.2.8,<9",
    "sqlalchemy[asyncio]>=2.0.38",
    "uvloop>=0.21; sys_platform != 'win32'",
    "Py.CPUInfo ~= 9.0",
]

[project.optional-dependencies]
svc = ["starlette>=0.44", "sqlalchemy>=2.0.40"]
test = ["demo-pkg[svc]", "pytest>=8"]
other = ["never-chosen>=1"]
"""


def run(pyproject: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(pyproject), *args], capture_output=True,
                          text=True, timeout=60)


def pins(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_floors_become_pins(tmp_path: Path) -> None:
    res = run(write(tmp_path, SAMPLE))
    assert res.returncode == 0, res.stderr
    assert pins(res.stdout) == [
        "py-cpuinfo==9.0",
        "sqlalchemy==2.0.38",  # pip refuses extras in a constraints file
        "textual==8.2.8",
        "uvloop==0.21; sys_platform != 'win32'",  # markers stay
    ]


def test_extras_followed_through_the_project_itself_higher_floor_wins(tmp_path: Path) -> None:
    out = tmp_path / "c.txt"
    res = run(write(tmp_path, SAMPLE), "--extras", "test", "-o", str(out))
    assert res.returncode == 0 and res.stdout == "", res.stderr
    got = pins(out.read_text())
    assert "sqlalchemy==2.0.40" in got and "starlette==0.44" in got and "pytest==8" in got
    assert not any(p.startswith(("demo-pkg", "never-chosen")) for p in got)


def test_refuses_what_it_cannot_pin(tmp_path: Path) -> None:
    cases = {
        '"httpx"': "no lower bound",
        '"httpx<1"': "no lower bound",
        '"httpx>0.27"': "excludes its own version",
        '"httpx @ https://example.com/httpx.whl"': "direct URL",
    }
    for dep, words in cases.items():
        res = run(write(tmp_path, f'[project]\nname = "x"\ndependencies = [{dep}]\n'))
        assert res.returncode == 1 and words in res.stderr, (dep, res.stderr)
        assert "Traceback" not in res.stderr
    res = run(write(tmp_path, SAMPLE), "--extras", "nope")
    assert res.returncode == 1 and "no such extra: nope" in res.stderr
    res = run(tmp_path / "missing.toml")
    assert res.returncode == 2 and "cannot read" in res.stderr


def test_this_projects_constraints() -> None:
    """Every direct dependency of licwiz and its service extras, each pinned once."""
    res = run(REPO / "pyproject.toml", "--extras", "center,server")
    assert res.returncode == 0, res.stderr
    got = pins(res.stdout)
    names = [p.split("==")[0] for p in got]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]*(; .+)?", p) for p in got), got
    assert {"cryptography", "textual", "httpx", "starlette", "uvicorn", "sqlalchemy", "asyncpg"} <= set(names)
