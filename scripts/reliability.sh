#!/usr/bin/env bash
# The reliability suite at full length (CI runs shortened versions of each):
#   1. crash test: SIGKILL under write load, on SQLite and on PostgreSQL
#      (RELIABILITY_CRASH_CYCLES kills each; CI: 22);
#   2. race test: concurrent clients over a 3-instance pool and over SQLite
#      declaring intersecting intents (RELIABILITY_RACE_ATTEMPTS writes per
#      client; CI: 150);
#   3. API fuzzing with schemathesis against the F3548 spec
#      (SCHEMATHESIS_EXAMPLES per operation; CI: 20);
#   4. cargo-fuzz, FUZZ_SECONDS per target (CI: 30);
#   5. the InterUSS suites against every instance of a 3-instance PostgreSQL
#      pool, and the synchronization scenarios across them (CI: the suites
#      against the first instance only).
# Usage: scripts/reliability.sh [STEP...]   (default: all; steps: crash race
#        schemathesis fuzz pool). Needs PostgreSQL at 127.0.0.1:5432 (trust)
#        and, for step 5, ../shared/conformance. About 45 minutes in all on
#        2 cores with the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
CRASH=${RELIABILITY_CRASH_CYCLES:-100}
RACE=${RELIABILITY_RACE_ATTEMPTS:-1000}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-200}
FUZZ=${FUZZ_SECONDS:-300}
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(crash race schemathesis fuzz pool)
for step in "${STEPS[@]}"; do
  echo "==> $step ($(date -u +%H:%M:%S))"
  case "$step" in
    crash) RELIABILITY_CRASH_CYCLES=$CRASH cargo test --release -p cli --test reliability_crash -- --nocapture ;;
    race) RELIABILITY_RACE_ATTEMPTS=$RACE cargo test --release -p cli --test reliability_race -- --nocapture ;;
    schemathesis) cargo build --release -p cli && scripts/schemathesis.sh "$EXAMPLES" ;;
    fuzz) scripts/fuzz.sh "$FUZZ" ;;
    pool) cargo build --release -p cli && POOL_FULL=1 scripts/pool-conformance.sh .ci/conformance-exact-model.txt ;;
    *) echo "unknown step $step (crash race schemathesis fuzz pool)" >&2; exit 2 ;;
  esac
done
echo "==> reliability suite passed ($(date -u +%H:%M:%S))"
