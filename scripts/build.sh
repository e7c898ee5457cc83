#!/usr/bin/env bash
# build.sh — configures and builds build/ (RelWithDebInfo), for `make` and
# `make demo`: one line of progress per step; cmake's and the compiler's output
# goes to build/build.log, shown when a step fails (scripts/quiet.sh), and the
# warnings of a build that passed are shown too. BACKLOGD_VERBOSE=1 (`make V=1`)
# shows everything as it comes. `make test` builds its own way
# (scripts/run-tests.sh).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
source scripts/quiet.sh

log=build/build.log
mkdir -p build
: >"$log"
echo "build: configuring build/ with cmake (log: $log)" >&2
quietly "$log" cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "build: compiling backlogd, its tests and benchmarks (log: $log)" >&2
quietly "$log" cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
warnings=$(grep -Ec ': warning: |^CMake Warning' "$log" || true)
if [[ $warnings -gt 0 && ${BACKLOGD_VERBOSE:-0} != 1 ]]; then
  echo "build: $warnings compiler warning(s), details in $log:" >&2
  grep -E ': warning: |^CMake Warning' "$log" >&2
fi
