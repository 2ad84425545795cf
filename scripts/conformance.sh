#!/usr/bin/env bash
# Runs the InterUSS DSS conformance suites (../shared/conformance) against a
# freshly started release binary with an empty data folder.
#
# Usage: scripts/conformance.sh [EXPECTED_FAILURES_FILE] [-- SERVER_ARGS...]
#   EXPECTED_FAILURES_FILE lists, one per line, tests that fail by design in
#   this configuration (with the reason after '#'). The run fails on any other
#   failure, and also if a listed test passes (the list must stay true).
#   Without it, any failure fails the run.
# Env: DSS_TEST_SUITES, HEAVY_TRAFFIC_WORKERS, QUALIFIER_FILTER, PROBER_ARGS pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. "$ROOT/scripts/lib-conformance.sh"
EXPECTED=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then EXPECTED="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
SERVER_ARGS=("$@")
SHARED="${INTERUSS_SHARED_DIR:-$ROOT/../shared}"
RUNNER="$SHARED/conformance/run-dss-tests.sh"
[ -x "$RUNNER" ] || [ -f "$RUNNER" ] || { echo "conformance runner not found at $RUNNER" >&2; exit 1; }

BIN="$ROOT/target/release/deconflict"
[ -x "$BIN" ] || cargo build --release -p cli

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
LOG="$DATA/server.log"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
  --public-key "$SHARED/conformance/interuss-test-public-key.pem" \
  --audiences localhost,127.0.0.1 "${SERVER_ARGS[@]}" >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthy" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { echo "server died:"; cat "$LOG"; exit 1; }
  sleep 0.1
done

export DSS_TEST_SUITES="${DSS_TEST_SUITES:-prober-scd qualifier-scd}"
OUT="$DATA/conformance.out"
set +e
bash "$RUNNER" "http://127.0.0.1:$PORT" >"$OUT" 2>&1
rc=$?
set -e
# Show the summary (failures listed first by the runner), not the whole log.
sed -n '/^  FAIL\|^  PASS\|^  SKIP\|^prober tests:\|^uss_qualifier scenarios:/p' "$OUT"
last=$(grep '^dss-tests:' "$OUT" | tail -1 || true)
if grep -q ' 5[0-9][0-9] ' "$LOG"; then
  echo "the server answered with a 5xx during the suite:"; grep ' 5[0-9][0-9] ' "$LOG" | head -20
fi
if [ -z "$last" ]; then
  echo "conformance runner did not finish; full output: $OUT"; tail -40 "$OUT"; exit 1
fi
check_failures "$OUT" "$EXPECTED" "$rc" "$LOG"
