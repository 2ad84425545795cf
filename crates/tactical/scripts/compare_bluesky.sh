#!/usr/bin/env bash
# Compares the BlueSky-compatible mode with BlueSky 1.1.1 itself at
# N = 2000 and 5000 (seed 1), and times both on the same scenario files.
#
#   crates/tactical/scripts/compare_bluesky.sh [N...]     (default: 2000 5000)
#
# - creates a venv in /tmp/bluesky-venv (once) with the pinned requirements
#   of ../shared/bluesky/requirements.txt (needs PyPI);
# - generates each scenario with cd_baseline.py and runs BlueSky StateBased
#   (python geo, the reference) on it, 1 timed call;
# - runs our detector (BlueSky mode) on the same file and compare_pairs.py
#   on the directed pairs (tolerance 1e-3) and on the LoS pairs.
# Work files go to /tmp/tactical-compare. Exits non-zero on any mismatch.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bluesky}
VENV=${VENV:-/tmp/bluesky-venv}
WORK=${WORK:-/tmp/tactical-compare}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-tactical}
NS=("$@"); [ ${#NS[@]} -eq 0 ] && NS=(2000 5000)
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$SHARED/requirements.txt"
fi
PY=$VENV/bin/python

(cd "$ROOT" && cargo build -q --release -p tactical --example detect)
DETECT=$CARGO_TARGET_DIR/release/examples/detect

for N in "${NS[@]}"; do
  S=$WORK/scenario_n${N}_seed1.csv
  echo "== N=$N"
  "$PY" "$SHARED/cd_baseline.py" --n "$N" --seed 1 --scenario-out "$S" \
      --pairs-out "$WORK/bluesky_pairs_$N.csv" --los-out "$WORK/bluesky_los_$N.csv" \
      --reps 1 --json-out "$WORK/bluesky_$N.json" > "$WORK/bluesky_$N.log" 2>&1
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print('bluesky:', {k: v for k, v in d.items() if 'time' in k or 'rss' in k.lower()})" "$WORK/bluesky_$N.json" || true
  "$DETECT" "$S" --mode bluesky --pairs-out "$WORK/ours_pairs_$N.csv" --los-out "$WORK/ours_los_$N.csv"
  "$PY" "$SHARED/compare_pairs.py" "$WORK/bluesky_pairs_$N.csv" "$WORK/ours_pairs_$N.csv" --tol 1e-3
  "$PY" "$SHARED/compare_pairs.py" "$WORK/bluesky_los_$N.csv" "$WORK/ours_los_$N.csv"
done
