"""``licwiz completion bash|zsh``: the scripts load in a real bash and zsh and
complete commands, the center's and server's subcommands and option choices
(bash through COMP_WORDS, zsh through a pseudo-terminal pressing Tab)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from licwiz.cli.main import COMMANDS


def _server_subcommands() -> list[str]:
    """What `licwiz server` offers, read from its own parser (the script must follow it)."""
    import re

    from licwiz.cli.server import build_parser

    # argparse's usage names the subcommands as {a,b,...}; no private argparse names needed.
    found = re.search(r"\{([\w,-]+)\}", build_parser().format_usage())
    assert found, build_parser().format_usage()
    return sorted(found.group(1).split(","))

# `licwiz` as the interpreter running the tests runs it (no PATH lookup needed)
LICWIZ_FN = f'licwiz() {{ {shlex.quote(sys.executable)} -m licwiz.cli "$@"; }}'


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", f"{LICWIZ_FN}\n{script}"],
                          capture_output=True, text=True, timeout=90)


def _bash_complete(*lines: str) -> dict[str, list[str]]:
    """What bash offers for each command line (the cursor at its end)."""
    calls = "\n".join(f"comp {shlex.quote(line)}" for line in lines)
    r = _bash(f"""
source <(licwiz completion bash) || exit 9
fn=$(complete -p licwiz | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
comp() {{
  read -r -a COMP_WORDS <<< "$1"
  [[ "$1" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE="$1"; COMP_POINT=${{#1}}; COMPREPLY=()
  "$fn" licwiz "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  printf '%s\\t%s\\n' "$1" "${{COMPREPLY[*]}}"
}}
{calls}
""")
    assert r.returncode == 0, r.stderr
    out: dict[str, list[str]] = {}
    for row in r.stdout.splitlines():
        line, _, words = row.partition("\t")
        out[line] = words.split()
    return out


def test_bash_script_registers_licwiz() -> None:
    r = _bash("source <(licwiz completion bash); complete -p licwiz")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("complete ") and " -F _shtab_licwiz licwiz" in r.stdout


def test_bash_completes_commands_subcommands_and_choices() -> None:
    got = _bash_complete("licwiz ac", "licwiz ", "licwiz center op", "licwiz center operator ",
                         "licwiz server ", "licwiz server serve --p", "licwiz acquire --operation ",
                         "licwiz install --scope ", "licwiz completion ", "licwiz fingerprint --what")
    assert got["licwiz ac"] == ["acquire"]
    assert sorted(got["licwiz "]) == sorted(COMMANDS)  # every command, completion itself too
    assert got["licwiz center op"] == ["operator"]
    assert got["licwiz center operator "] == ["add", "list", "disable"]
    assert sorted(got["licwiz server "]) == _server_subcommands()
    assert {"init", "install", "params", "serve", "status"} <= set(got["licwiz server "])
    assert got["licwiz server serve --p"] == ["--port"]
    assert got["licwiz acquire --operation "] == ["first", "recover", "update"]
    assert got["licwiz install --scope "] == ["all-users", "user"]
    assert got["licwiz completion "] == ["bash", "zsh"]
    assert got["licwiz fingerprint --what"] == ["--what-if"]


# Drives an interactive zsh in a pseudo-terminal: types LINE, presses Tab, and
# prints the candidates zsh's completion system offers (compadd is wrapped to
# report them; everything else is zsh's own machinery and the generated script).
_ZSH_TAB = r"""
zmodload zsh/zpty zsh/datetime
zpty z zsh -f -i
zpty -w z 'PS1=""; PROMPT=""; RPROMPT=""; autoload -U compinit; compinit -u -d "$ZDUMP"'
zpty -w z "$LICWIZ_FN"
zpty -w z 'eval "$(licwiz completion zsh)"'
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
zpty -w z 'source "$HITS"'
zpty -w z "bindkey '^I' complete-word"
zpty -w z 'print "<READY""DONE>"'
local line
float deadline=$(( EPOCHREALTIME + 60 ))
while (( EPOCHREALTIME < deadline )); do
  if zpty -r -t z line; then [[ $line == *'<READYDONE>'* ]] && break; else sleep 0.05; fi
done
zpty -w -n z "$1"$'\t'
local -a hits
deadline=$(( EPOCHREALTIME + 10 ))
while (( EPOCHREALTIME < deadline )); do
  if zpty -r -t z line; then
    [[ $line == *'<HIT>'* ]] && hits+=("${${line#*<HIT>}%%[$'\r\n']*}")
  else
    (( $#hits )) && break
    sleep 0.05
  fi
done
print -l -- $hits
zpty -d z
"""


# compadd wrapped: the candidates zsh would offer are printed, one per line
_HITS = r"""
compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) || return 1
  print -l -- "<HIT>"${^__hits}
}
"""


def _zsh() -> str:
    found = shutil.which("zsh")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("zsh is required in CI (apt-get install zsh)")
        pytest.skip("zsh is not installed")
    return found


def test_zsh_script_registers_and_completes(tmp_path: Path) -> None:
    zsh = _zsh()
    (tmp_path / "hits.zsh").write_text(_HITS)
    env = {**os.environ, "ZDUMP": str(tmp_path / "zcompdump"), "LICWIZ_FN": LICWIZ_FN,
           "HITS": str(tmp_path / "hits.zsh")}
    reg = subprocess.run(
        [zsh, "-f", "-c", f'autoload -U compinit && compinit -u -d "$ZDUMP"; {LICWIZ_FN}; '
         'eval "$(licwiz completion zsh)" && print -r -- "$_comps[licwiz]"'],
        capture_output=True, text=True, timeout=90, env=env)
    assert reg.returncode == 0, reg.stderr
    assert reg.stdout.strip() == "_shtab_licwiz"
    script = tmp_path / "tab.zsh"
    script.write_text(_ZSH_TAB)
    cases = {"licwiz ac": ["acquire"], "licwiz center op": ["operator"],
             "licwiz acquire --operation ": ["first", "recover", "update"],
             "licwiz server ": _server_subcommands()}
    for line, expected in cases.items():
        r = subprocess.run([zsh, "-f", str(script), line], capture_output=True, text=True, timeout=120,
                           env=env)
        got = r.stdout.split()
        if line == "licwiz server ":
            # shtab's zsh script also offers the words of nested groups (db current, seats release).
            assert set(expected) <= set(got), (line, r.stdout, r.stderr)
        else:
            assert sorted(got) == sorted(expected), (line, r.stdout, r.stderr)


def test_completion_usage_and_missing_extras() -> None:
    r = subprocess.run([sys.executable, "-m", "licwiz.cli", "completion", "fish"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "[usage]" in r.stderr
    # `pip install licwiz` without the center's extra: center and demo still complete by name
    code = ("import sys\nsys.modules['sqlalchemy'] = None\nfrom licwiz.cli.main import main\n"
            "sys.exit(main(['completion', 'bash']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "center" in r.stdout and "demo" in r.stdout and "acquire" in r.stdout
    assert "_shtab_licwiz_center_kit" not in r.stdout
