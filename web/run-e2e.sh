#!/usr/bin/env bash
# End-to-end tests of the operator's map: installs the web dependencies
# (npm ci, from the lock file), builds the release binary if needed, and
# drives Debian's chromium (headless, through playwright-core) against the
# real `deconflict serve`. Screenshots go to web/screenshots/, the measured
# performance to web/screenshots/perf.json.
#
#   web/run-e2e.sh                 # everything
#   web/run-e2e.sh tests/replay.test.mjs
#
# Environment: DECONFLICT_BIN (default target/release/deconflict, relative
# to the repository), CHROMIUM (default /usr/bin/chromium), PERF_AIRCRAFT,
# PERF_INTENTS (defaults 5000, 10000), REPLAY_FILE, E2E_SKIP_BUILD=1 to use
# web/dist as it is (otherwise it is rebuilt and must match the committed one
# only if you commit it).
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd .. && pwd)
export DECONFLICT_BIN="${DECONFLICT_BIN:-target/release/deconflict}"
case "$DECONFLICT_BIN" in /*) bin=$DECONFLICT_BIN ;; *) bin=$repo/$DECONFLICT_BIN ;; esac

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "run-e2e: no chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install -y chromium)" >&2
  exit 1
fi
npm ci --no-audit --no-fund
if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  # Built aside and copied over only if it differs: a build identical to
  # the committed one must not make the binary that embeds it look stale
  # (rebuilding it costs minutes).
  fresh=$(mktemp -d)
  npm run build -- --outDir "$fresh" --emptyOutDir
  if ! diff -r -q "$fresh" dist >/dev/null 2>&1; then
    echo "run-e2e: the web build differs from web/dist; replacing it" >&2
    rm -rf dist && cp -r "$fresh" dist
  fi
  rm -rf "$fresh"
fi
if [ ! -x "$bin" ] || [ -n "$(find dist ../crates -newer "$bin" -type f -print -quit 2>/dev/null)" ]; then
  echo "run-e2e: building the release binary ($bin)" >&2
  target_dir=$(dirname "$(dirname "$bin")")
  (cd "$repo" && CARGO_TARGET_DIR="$target_dir" cargo build --release -p cli)
fi
mkdir -p screenshots
if [ $# -eq 0 ]; then set -- tests/; fi
node --test --test-concurrency=1 "$@"
