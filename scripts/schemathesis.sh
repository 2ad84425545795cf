#!/usr/bin/env bash
# Property-based API fuzzing of the DSS endpoints against the standards' own
# OpenAPI specs (ASTM F3548-21 utm.yaml, F3411-19 augmented.yaml and
# F3411-22a updated.yaml in ../shared/specs), with schemathesis from PyPI, on
# a freshly started release binary with an empty data folder.
#
# Checks: no 5xx (not_a_server_error) and every response body matches the
# spec's schema for its status (response_schema_conformance); the server must
# still be alive and healthy at the end. Exits non-zero on any failure.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 20 per operation)
# Env:   SCHEMATHESIS_VENV  where the venv lives (default target/schemathesis-venv)
#        SCHEMATHESIS_SEED  fixed seed to replay a run (default: random, printed)
#        SCHEMATHESIS_ARGS  extra arguments for `st run`
#        DECONFLICT_BIN     binary to test (default target/release/deconflict,
#                           built if missing; honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MAX_EXAMPLES="${1:-20}"
SCHEMATHESIS_VERSION="4.32.5"
SPECS_DIR="${SPECS_DIR:-$ROOT/../shared/specs}"
# spec, the URL its paths are relative to (from the server's root), and the
# paths a DSS serves (the specs also describe USS-to-USS endpoints).
APIS=(
  "$SPECS_DIR/astm-f3548-21/utm.yaml||^/dss/v1/"
  "$SPECS_DIR/astm-f3411-19/augmented.yaml||^/v1/dss/"
  "$SPECS_DIR/astm-f3411-22a/updated.yaml|/rid/v2|^/dss/"
)
for api in "${APIS[@]}"; do
  spec=${api%%|*}
  [ -f "$spec" ] || { echo "spec not found at $spec" >&2; exit 1; }
done

VENV="${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}"
PY=$(command -v python3.11 || command -v python3)
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "creating $VENV with schemathesis $SCHEMATHESIS_VERSION"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${DECONFLICT_BIN:-$TARGET_DIR/release/deconflict}"
[ -x "$BIN" ] || cargo build --release -p cli

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
LOG="$DATA/server.log"
REPORT="$DATA/report"
# Development mode (no --public-key): the service signs its own tokens.
# --rate-limit-per-s 0: schemathesis sends thousands of requests from one party.
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --rate-limit-per-s 0 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthy" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { echo "server died at start:"; cat "$LOG"; exit 1; }
  sleep 0.1
done
TOKEN=$("$BIN" token --sub fuzz --data-dir "$DATA" \
  --scope utm.strategic_coordination --scope utm.constraint_management \
  --scope utm.constraint_processing --scope utm.conformance_monitoring_sa \
  --scope utm.availability_arbitration \
  --scope rid.service_provider --scope rid.display_provider \
  --scope dss.write.identification_service_areas --scope dss.read.identification_service_areas)

SEED="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"
echo "schemathesis $SCHEMATHESIS_VERSION against http://127.0.0.1:$PORT, $MAX_EXAMPLES examples per operation, seed $SEED"
rc=0
# - Only the DSS paths of each spec: they also describe the USS-to-USS
#   endpoints (/uss/...), which a DSS does not serve.
# - Checks limited to the two this script promises. Others that schemathesis
#   offers are not claims the service makes: e.g. negative_data_rejection
#   flags accepting bodies with extra or legacy fields, which the spec itself
#   requires ("fields ... not declared in the API must be ignored").
# - The token is valid for the whole run (1 h, the longest the service accepts).
# - One worker: with several, CPython 3.11.7 (this machine's) intermittently
#   fails inside hypothesis' code generation with "SystemError: AST
#   constructor recursion depth mismatch" (a CPython bug with compile() in
#   concurrent threads, fixed in later 3.11/3.12 releases); schemathesis then
#   reports a Runtime Error that has nothing to do with the service.
for api in "${APIS[@]}"; do
  IFS='|' read -r spec prefix paths <<<"$api"
  echo "== $(basename "$(dirname "$spec")") ($paths under http://127.0.0.1:$PORT$prefix)"
  set +e
  "$VENV/bin/st" run "$spec" \
    --url "http://127.0.0.1:$PORT$prefix" \
    --header "Authorization: Bearer $TOKEN" \
    --include-path-regex "$paths" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 30 \
    --report junit --report-dir "$REPORT/$(basename "$(dirname "$spec")")" \
    ${SCHEMATHESIS_ARGS:-}
  r=$?
  set -e
  [ $r -ne 0 ] && rc=$r
done
alive=0
curl -fsS "http://127.0.0.1:$PORT/healthy" >/dev/null 2>&1 && alive=1
# Count 5xx answers from the service's own metrics too (schemathesis only sees
# the responses it checked), and look for panics in its log.
fivexx=$(curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep '^http_requests_total{.*status="5' || true)
if [ -n "$fivexx" ]; then
  echo "the server answered with a 5xx:"; echo "$fivexx"
  rc=1
fi
if grep -q 'panicked' "$LOG"; then
  echo "the server panicked:"; grep -A3 'panicked' "$LOG" | head -20
  rc=1
fi
if [ $alive -ne 1 ]; then
  echo "the server is not healthy after the run; log: $LOG"; tail -20 "$LOG"
  rc=1
fi
if [ $rc -ne 0 ]; then
  echo "schemathesis FAILED (exit $rc); server log: $LOG, report: $REPORT"
  exit 1
fi
echo "schemathesis OK"
