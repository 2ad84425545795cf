#!/usr/bin/env bash
# The conformance suites against a pool of instances of the release binary
# over one PostgreSQL database: the F3548 prober and uss_qualifier scenarios
# against each instance in turn, then the synchronization scenarios with the
# instances listed as separate DSS instances (what is written on one must
# read the same on the others).
#
# Usage: scripts/pool-conformance.sh [EXPECTED_FAILURES_FILE] [-- SERVER_ARGS...]
# Env: POOL_SIZE (default 3), DECONFLICT_PG_URL (admin URL, default
#      postgres://postgres@127.0.0.1:5432/test), POOL_FULL=0 to run the full
#      suites against the first instance only (the others still serve the
#      synchronization scenarios).
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
N="${POOL_SIZE:-3}"
ADMIN="${DECONFLICT_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="$ROOT/target/release/deconflict"
[ -x "$BIN" ] || cargo build --release -p cli

DB="deconflict_pool_$$"
psql "$ADMIN" -qc "CREATE DATABASE $DB"
URL="${ADMIN%/*}/$DB"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

PORTS=()
for i in $(seq 1 "$N"); do
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/i$i"
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/i$i" --store "$URL" \
    --public-key "$SHARED/conformance/interuss-test-public-key.pem" \
    --audiences localhost,127.0.0.1 "${SERVER_ARGS[@]}" >"$WORK/i$i/server.log" 2>&1 &
  PIDS+=($!)
  PORTS+=("$PORT")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthy" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
echo "pool of $N instances on ports ${PORTS[*]} over $DB"

export DSS_TEST_SUITES="${DSS_TEST_SUITES:-prober-scd qualifier-scd}"
for i in $(seq 1 "$N"); do
  [ "${POOL_FULL:-1}" = "0" ] && [ "$i" -gt 1 ] && break
  PORT=${PORTS[$((i - 1))]}
  OUT="$WORK/conformance-$i.out"
  echo "--- instance $i (port $PORT)"
  set +e
  bash "$RUNNER" "http://127.0.0.1:$PORT" >"$OUT" 2>&1
  rc=$?
  set -e
  grep '^prober tests:\|^uss_qualifier scenarios:' "$OUT" || true
  (check_failures "$OUT" "$EXPECTED" "$rc" "$WORK/i$i/server.log")
done

# Synchronization with the instances as separate DSS instances: take the
# configurations the runner generated and list every pool member.
RUN_DIR=$(ls -dt "${INTERUSS_BASE:-/tmp/interuss-dss-tests}"/run-* | head -1)
VPY=$(ls -d "${INTERUSS_BASE:-/tmp/interuss-dss-tests}"/venv-*/bin/python | head -1)
SYNC="$WORK/sync"
mkdir -p "$SYNC/qualifier/out" "$SYNC/qualifier/logs"
: >"$SYNC/qualifier/scenarios.tsv"
for cfg in "$RUN_DIR"/qualifier/qualifier-scd-*Synchronization.json; do
  name=$(basename "$cfg" .json)
  "$VPY" - "$cfg" "$SYNC/qualifier/$name.json" "${PORTS[@]}" <<'PY'
import json, sys
src, dst, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(src))
spec = c["v1"]["test_run"]["resources"]["resource_declarations"]["scd_dss_instances"]["specification"]
template = spec["dss_instances"][0]
ids = ["dss_under_test", "dss_under_test_b"] + [f"dss_under_test_{chr(ord('c') + i)}" for i in range(len(ports) - 2)]
spec["dss_instances"] = [dict(template, participant_id=pid, base_url=f"http://127.0.0.1:{p}") for pid, p in zip(ids, ports)]
json.dump(c, open(dst, "w"), indent=1)
PY
  stype=$(grep -o 'scenarios\.astm\.utm\.dss\.synchronization\.[A-Za-z]*' "$cfg" | head -1)
  printf '%s\t%s\t%s\n' "$name" "$stype" "$SYNC/qualifier/$name.json" >>"$SYNC/qualifier/scenarios.tsv"
  echo "--- synchronization across the pool: $stype"
  (cd "$SYNC/qualifier" && AUTH_SPEC="${AUTH_SPEC:-NoAuth(sub=uss1)}" AUTH_SPEC_2="${AUTH_SPEC_2:-NoAuth(sub=uss2)}" \
    timeout 900 "$VPY" -m monitoring.uss_qualifier.main --config "file://$SYNC/qualifier/$name.json" \
      --output-path "$SYNC/qualifier/out/$name") >"$SYNC/qualifier/logs/$name.log" 2>&1 </dev/null || true
done
OUT="$WORK/sync.out"
"$VPY" "$RUN_DIR/summarize.py" "$SYNC" >"$OUT" 2>&1 || true
cat "$OUT"
grep -q '^uss_qualifier scenarios: [1-9][0-9]* passed, 0 failed' "$OUT" || { echo "pool synchronization FAILED (see $SYNC)"; exit 1; }
echo "pool conformance OK"
