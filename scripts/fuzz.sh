#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for a bounded time, one after the
# other, starting from the seed corpus kept in fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
# Env:   FUZZ_JOBS=N       run N fuzzing processes per target (default 1)
#        FUZZ_MERGE=1      afterwards, merge what the run found into the
#                          kept corpus (minimized with -merge=1; review the
#                          size before committing)
#        FUZZ_SANITIZER    address|none (default none; see below)
#        CARGO_TARGET_DIR  honoured (default fuzz/target)
#        FUZZ_BUILD_ONLY=1 install cargo-fuzz if needed, build, and stop
#                          (CI builds ahead, beside the conformance suites)
#
# Toolchain: cargo-fuzz drives libFuzzer through rustc's -Z flags
# (-Zsanitizer, -Cpasses=sancov-module, ...), which only a nightly compiler
# accepts. Only the stable toolchain is guaranteed on these machines, so the
# script runs `cargo +stable fuzz` with RUSTC_BOOTSTRAP=1, which lets the
# stable compiler take the same flags (libfuzzer-sys builds libFuzzer from
# its bundled C++ sources with the machine's g++). The sanitizer defaults to
# none: the code under test is safe Rust, so AddressSanitizer finds nothing
# that a panic would not, at several times the cost; debug assertions
# (overflow checks included) stay on, as cargo-fuzz builds with them.
#
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script;
# replay it with:
#   RUSTC_BOOTSTRAP=1 cargo +stable fuzz run --sanitizer none <target> <file>
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(geometry decode_request)
SAN="${FUZZ_SANITIZER:-none}"
JOBS="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1

if ! cargo +stable fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io"
  cargo +stable install --locked cargo-fuzz
fi

mkdir -p corpus-new
if ! cargo +stable fuzz build --sanitizer "$SAN" >corpus-new/build.log 2>&1; then
  tail -30 corpus-new/build.log; echo "fuzz build failed"; exit 1
fi
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && { echo "fuzz targets built"; exit 0; }
PAR=()
[ "$JOBS" -gt 1 ] && PAR=(-jobs="$JOBS" -workers="$JOBS")

status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "corpus-new/$t" "artifacts/$t"
  log="corpus-new/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s, $JOBS job(s), seeds: $(ls "corpus/$t" | wc -l) files"
  start=$(date +%s)
  set +e
  # New inputs go to corpus-new/ (first directory); the kept seeds are read only.
  cargo +stable fuzz run --sanitizer "$SAN" "$t" "corpus-new/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${PAR[@]}" >"$log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  # With -jobs, libFuzzer writes each job's output to fuzz-N.log.
  if ls fuzz-*.log >/dev/null 2>&1; then cat fuzz-*.log >>"$log"; rm -f fuzz-*.log; fi
  runs=$( (grep -h '^stat::number_of_executed_units' "$log" || true) | awk '{s+=$2} END {print s+0}')
  cov=$( (grep -h '#[0-9]*.*cov:' "$log" || true) | tail -1 | sed 's/.*\(cov: [0-9]*\).*\(ft: [0-9]*\).*\(corp: [^ ]*\).*/\1 \2 \3/')
  if [ $rc -ne 0 ] || grep -q 'SUMMARY: libFuzzer\|panicked at' "$log"; then
    echo "   FAILED after ${took}s (exit $rc); log: fuzz/$log"
    grep -h -m3 'panicked at\|SUMMARY' "$log" | sed 's/^/   /'
    ls "artifacts/$t" | sed 's/^/   artifact: /'
    status=1
  else
    echo "   ok: $runs inputs in ${took}s ($cov)"
  fi
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    cargo +stable fuzz run --sanitizer "$SAN" "$t" "corpus/$t" "corpus-new/$t" -- -merge=1 >/dev/null 2>&1 || true
    echo "   kept corpus now $(ls "corpus/$t" | wc -l) files"
  fi
done
exit $status
