#!/usr/bin/env bash
# Build licwiz's wheel and use it as a customer and an operator would: installed
# into a fresh venv outside the repository, run from a folder outside it, with
# nothing of the checkout on the import path.
#
#   1. build: a copy of the checkout's files (tracked and new, not ignored, so a
#      stale build/ or egg-info cannot leak in) built with the build-system
#      requirements of pyproject.toml; any warning in the build output fails.
#   2. the customer's install (no extras): licwiz --version, licwiz fingerprint
#      --json, and a service command that says which extra it needs.
#   3. the operator's extras: a Licensing Center (init, kit create, serve) and a
#      license server (init, serve); licwiz acquire against the center (a license
#      for this user), licwiz run holding a local seat, then licwiz acquire
#      --server (a license installed on the server) and licwiz run --server.
#
# Usage: packaging/wheel-check.sh   (PYTHON=python3.12 to pick the interpreter)
# Exit 0 when every step passed; the first failing step stops it with its output.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/licwiz-wheel-check.XXXXXX")
PIDS=()

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do  # each service runs in its own process group (setsid)
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        echo "wheel-check: FAILED (exit $rc); service output:" >&2
        tail -n 20 "$WORK"/*.out >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== wheel-check: %s\n' "$*"; }
fail() { echo "wheel-check: $*" >&2; exit 1; }
logged() {  # LOG COMMAND...: the command's output goes to LOG, and is shown if it fails
    local log=$1
    shift
    "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "failed: $*"; }
}

# --- 1. build -----------------------------------------------------------------------------------
step "build the wheel"
mkdir -p "$WORK/src" "$WORK/dist"
(
    cd "$REPO"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -
) | tar -xf - -C "$WORK/src"

"$PYTHON" -m venv "$WORK/build-venv"
mapfile -t BUILD_REQUIRES < <("$WORK/build-venv/bin/python" -c '
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' "$WORK/src/pyproject.toml")
logged "$WORK/pip-build.log" "$WORK/build-venv/bin/pip" install build "${BUILD_REQUIRES[@]}"
# The build requirements are installed above, so the build itself prints only what
# setuptools says. PYTHONDONTWRITEBYTECODE would add a "byte-compiling is disabled"
# warning of distutils that says nothing about the project.
(cd "$WORK/src" && env -u PYTHONDONTWRITEBYTECODE "$WORK/build-venv/bin/python" -m build --wheel \
    --no-isolation --outdir "$WORK/dist" .) >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; fail "the build failed"; }
if grep -n -i -E 'warning|deprecat' "$WORK/build.log" >"$WORK/warnings.txt"; then
    cat "$WORK/warnings.txt" >&2
    fail "the build printed warnings (above; full log: python -m build --wheel)"
fi
WHEELS=("$WORK"/dist/licwiz-*.whl)
if [ "${#WHEELS[@]}" -ne 1 ] || [ ! -f "${WHEELS[0]}" ]; then
    fail "expected one wheel in dist/, got: ${WHEELS[*]}"
fi
WHEEL=${WHEELS[0]}
VERSION=$("$WORK/build-venv/bin/python" -c '
import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$WORK/src/pyproject.toml")
echo "built $(basename "$WHEEL")"
"$WORK/build-venv/bin/python" - "$WHEEL" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["licwiz/styles/wizard.tcss", "licwiz/core/py.typed", "licwiz/center/templates/base.html",
        "licwiz/center/static/center.css", "licwiz/center/migrations/env.py",
        "licwiz/center/migrations/script.py.mako"]
missing = [n for n in need if n not in names]
if not any(n.startswith("licwiz/center/migrations/versions/") for n in names):
    missing.append("licwiz/center/migrations/versions/*")
if not any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names):
    missing.append("*.dist-info/licenses/LICENSE")
if missing:
    sys.exit(f"wheel-check: the wheel lacks {missing}")
EOF

# --- 2. the customer's install -------------------------------------------------------------------
step "install the wheel (no extras) into a fresh venv outside the repository"
"$PYTHON" -m venv "$WORK/venv"
logged "$WORK/pip-install.log" "$WORK/venv/bin/pip" install "$WHEEL"
BIN=$WORK/venv/bin
mkdir -p "$WORK/run" "$WORK/home"
cd "$WORK/run"
# Nothing of the checkout or of this user's licwiz state may take part.
unset PYTHONPATH VIRTUAL_ENV
for v in $(env | sed -n 's/^\(LICWIZ_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_STATE_HOME=$WORK/home/.local/state \
    XDG_DATA_HOME=$WORK/home/.local/share XDG_CACHE_HOME=$WORK/home/.cache
export LICWIZ_ALL_USERS_DIR=$WORK/licenses-all LICWIZ_USER_DIR=$WORK/licenses-user \
    LICWIZ_SEAT_DIR=$WORK/seats LICWIZ_PRODUCT=licwiz-demo
"$BIN/python" - "$WORK/venv" <<'EOF'
import sys
from pathlib import Path
import licwiz.core
where = Path(licwiz.core.__file__).resolve()
if Path(sys.argv[1]).resolve() not in where.parents:
    sys.exit(f"wheel-check: licwiz.core imported from {where}, not from the wheel's venv")
for extra_only in ("starlette", "uvicorn", "sqlalchemy", "asyncpg"):
    try:
        __import__(extra_only)
    except ImportError:
        continue
    sys.exit(f"wheel-check: a plain install brings {extra_only} (a service dependency: an extra)")
EOF

step "licwiz --version"
out=$("$BIN/licwiz" --version)
echo "$out"
case "$out" in *"$VERSION"*) ;; *) fail "licwiz --version does not name $VERSION: $out" ;; esac

step "licwiz fingerprint --json"
"$BIN/licwiz" fingerprint --json >"$WORK/fingerprint.json"
"$BIN/python" - "$WORK/fingerprint.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
if not isinstance(doc, dict) or not doc:
    sys.exit(f"wheel-check: fingerprint --json printed {doc!r}")
print(f"fingerprint --json: {', '.join(sorted(doc))}")
EOF

step "a service command without its extra"
set +e
out=$("$BIN/licwiz" center kit list 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -ne 0 ] || fail "licwiz center kit list worked without licwiz[center]"
case "$out" in *Traceback*) fail "a traceback instead of a message" ;; esac
[ "$(printf '%s\n' "$out" | wc -l)" -le 2 ] || fail "more than two lines for a missing extra"
case "$out" in
    *"licwiz[center]"*) ;;
    *) fail "the message does not name the extra to install, licwiz[center]" ;;
esac

# --- 3. the operator's extras: center, server, acquire, run --------------------------------------
step "install licwiz[center,server] from the same wheel"
logged "$WORK/pip-extras.log" "$BIN/pip" install "${WHEEL}[center,server]"
if grep -i "does not provide the extra" "$WORK/pip-extras.log" >&2; then
    fail "the wheel lacks an extra the services need"
fi

free_port() {
    "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_health() {  # URL PID NAME: until /api/v1/health answers 200, with a deadline
    "$BIN/python" - "$1" "$2" "$3" <<'EOF'
import os, sys, time, urllib.request
url, pid, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"wheel-check: {name} exited before answering")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(f"wheel-check: {name} did not answer {url} within 60 s")
EOF
}

json_get() {  # FILE EXPRESSION (on `d`, the parsed JSON)
    "$BIN/python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

step "Licensing Center: init, kit create, serve"
CENTER_HOME=$WORK/center
"$BIN/licwiz" center init --home "$CENTER_HOME" --json >"$WORK/center-init.json"
"$BIN/licwiz" center kit create --home "$CENTER_HOME" --product licwiz-demo --users 1 --pins 2 --count 2 \
    --json >"$WORK/kits.json"
CENTER_PORT=$(free_port)
CENTER_URL=http://127.0.0.1:$CENTER_PORT
setsid "$BIN/licwiz" center serve --home "$CENTER_HOME" --host 127.0.0.1 --port "$CENTER_PORT" \
    --log-file "$WORK/center-requests.log" >"$WORK/center.out" 2>&1 &
CENTER_PID=$!
PIDS+=("$CENTER_PID")
wait_health "$CENTER_URL/api/v1/health" "$CENTER_PID" "licwiz center serve"
echo "center answers on $CENTER_URL"
export LICWIZ_TRUSTED_KEYS=$CENTER_HOME/public

"$BIN/python" - "$WORK/owner.json" <<'EOF'
import sys
from pathlib import Path
from licwiz.core.owner import OwnerData, save_file
save_file(Path(sys.argv[1]), OwnerData(
    kind="organisation", organisation="Wheel Check Ltd", contact="Pat Doe", email="pat@example.com",
    phone="+31 30 123 4567", country="Netherlands", postcode="3511 AB", region="Utrecht",
    city="Utrecht", address="Oudegracht 1"))
EOF

step "licwiz acquire (a license for this user from the center)"
REGNUM=$(json_get "$WORK/kits.json" 'd[0]["regnum"]')
PIN=$(json_get "$WORK/kits.json" 'd[0]["single_pins"][0]')
"$BIN/licwiz" acquire --kit "$REGNUM" --pin "$PIN" --owner-file "$WORK/owner.json" --operation first \
    --scope user --center "$CENTER_URL" --json >"$WORK/acquire.json"
LICENSE_PATH=$(json_get "$WORK/acquire.json" 'd["license"]["path"]')
[ -f "$LICENSE_PATH" ] || fail "no license file at $LICENSE_PATH"
case "$LICENSE_PATH" in "$LICWIZ_USER_DIR"/*) ;; *) fail "license outside LICWIZ_USER_DIR: $LICENSE_PATH" ;; esac
"$BIN/licwiz" status --json >"$WORK/status.json"
[ "$(json_get "$WORK/status.json" \
    '[r["valid"] for r in d["licenses"] if r["license_id"] == "'"$REGNUM"'-001"]')" = "[True]" ] ||
    fail "licwiz status does not show $REGNUM-001 as valid: $(cat "$WORK/status.json")"
echo "license $REGNUM-001 installed in $LICENSE_PATH"

step "licwiz run (a local seat of that license)"
"$BIN/licwiz" run -- true
# While the command runs, licwiz status sees its seat; after it, the seat is free again.
"$BIN/licwiz" run -- "$BIN/licwiz" status --json >"$WORK/status-in-run.json"
"$BIN/licwiz" status --json >"$WORK/status-after-run.json"
[ "$(json_get "$WORK/status-in-run.json" 'len(d["seats"])')" = 1 ] ||
    fail "no seat held during licwiz run: $(cat "$WORK/status-in-run.json")"
[ "$(json_get "$WORK/status-after-run.json" 'len(d["seats"])')" = 0 ] ||
    fail "the seat was not given back after licwiz run: $(cat "$WORK/status-after-run.json")"
set +e
"$BIN/licwiz" run -- sh -c 'exit 7'
rc=$?
set -e
[ "$rc" -eq 7 ] || fail "licwiz run gave exit $rc for a command that exited 7"
echo "licwiz run held a seat and passed the command's exit status on"

step "license server: init, serve; licwiz acquire --server; licwiz run --server"
SERVER_PORT=$(free_port)
SERVER_DB=sqlite+aiosqlite:///$WORK/server/server.db
ADMIN_TOKEN=wheel-check-admin-$$
CLIENT_TOKEN=wheel-check-client-$$
"$BIN/licwiz" server init --db "$SERVER_DB" --admin-token "$ADMIN_TOKEN" --client-token "$CLIENT_TOKEN" \
    >/dev/null
setsid "$BIN/licwiz" server serve --db "$SERVER_DB" --host 127.0.0.1 --port "$SERVER_PORT" \
    >"$WORK/server.out" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_health "http://127.0.0.1:$SERVER_PORT/api/v1/health" "$SERVER_PID" "licwiz server serve"
REGNUM2=$(json_get "$WORK/kits.json" 'd[1]["regnum"]')
PIN2=$(json_get "$WORK/kits.json" 'd[1]["single_pins"][0]')
LICWIZ_SERVER_TOKEN=$ADMIN_TOKEN "$BIN/licwiz" acquire --kit "$REGNUM2" --pin "$PIN2" \
    --owner-file "$WORK/owner.json" --operation first --scope all-users --center "$CENTER_URL" \
    --server "127.0.0.1:$SERVER_PORT" --json >"$WORK/acquire-server.json"
# The seat, seen by the server's admin while the command runs.
LICWIZ_SERVER_CLIENT_TOKEN=$CLIENT_TOKEN LICWIZ_SERVER_TOKEN=$ADMIN_TOKEN \
    "$BIN/licwiz" run --server "127.0.0.1:$SERVER_PORT" -- \
    "$BIN/licwiz" server status --server "127.0.0.1:$SERVER_PORT" >"$WORK/server-status.txt"
grep -q "$REGNUM2-001" "$WORK/server-status.txt" ||
    fail "the server does not list $REGNUM2-001: $(cat "$WORK/server-status.txt")"
grep -q "1 of 1 in use" "$WORK/server-status.txt" ||
    fail "no seat in use on the server during licwiz run --server: $(cat "$WORK/server-status.txt")"
echo "license $REGNUM2-001 on the server; licwiz run --server held a seat"

step "stop the services (SIGTERM)"
for pid in "$CENTER_PID" "$SERVER_PID"; do
    kill -TERM -- "-$pid"
    set +e
    wait "$pid"
    rc=$?
    set -e
    # 0, or 128+SIGTERM: uvicorn re-raises the signal after its graceful shutdown.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || fail "a service exited $rc on SIGTERM"
done
PIDS=()

echo
echo "wheel-check: passed ($(basename "$WHEEL"))"
