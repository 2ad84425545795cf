# Shared by scripts/conformance.sh and scripts/pool-conformance.sh.
#
# check_failures OUT EXPECTED_FILE RC LOG: compares the failures the runner's
# summary in OUT names with the by-design list in EXPECTED_FILE (may be
# empty); exits 1 on any other failure, or if a listed one passed.
check_failures() {
  local OUT="$1" EXPECTED="$2" rc="$3" LOG="$4"
  local last
  last=$(grep "^dss-tests:" "$OUT" | tail -1 || true)
  # The failures, one name per line, as the runner's summary names them.
  failed=$(sed -n 's/^  FAIL prober \(.*\)$/prober \1/p; s/^  FAIL \([^:]*\):.*$/\1/p' "$OUT" | sort -u)
  expected=""
  [ -n "$EXPECTED" ] && expected=$(sed 's/#.*//; s/[[:space:]]*$//; /^$/d' "$EXPECTED" | sort -u)
  unexpected=$(comm -23 <(echo "$failed" | sed '/^$/d') <(echo "$expected" | sed '/^$/d'))
  now_passing=$(comm -13 <(echo "$failed" | sed '/^$/d') <(echo "$expected" | sed '/^$/d'))
  if [ -n "$unexpected" ] || [ -n "$now_passing" ] || { [ $rc -ne 0 ] && [ -z "$failed" ]; }; then
    [ -n "$unexpected" ] && { echo "unexpected conformance failures:"; echo "$unexpected" | sed 's/^/  /'; }
    [ -n "$now_passing" ] && { echo "listed as expected failures but passed (update $EXPECTED):"; echo "$now_passing" | sed 's/^/  /'; }
    echo "conformance FAILED; full output: $OUT, server log: $LOG"
    exit 1
  fi
  n_expected=$(echo "$expected" | sed '/^$/d' | wc -l)
  echo "conformance OK (runner: ${last#dss-tests: }; ${n_expected} listed divergence(s) by design, see ${EXPECTED:-none})"
}
