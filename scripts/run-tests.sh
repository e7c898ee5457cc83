#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. install missing Debian packages and the Python test environment;
#   2. build and run the unit tests with ASan and UBSan (build-asan/);
#   3. build the normal configuration (build/), start the real Kafka broker
#      and Schema Registry, run every ctest there (unit, valgrind, integration),
#      and stop the servers whatever happened.
# Exit status 0 only when every step passed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
python=$(scripts/python-env.sh)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

configure_and_build() { # dir, extra cmake args...
  local dir=$1
  shift
  [ -f "$dir/CMakeCache.txt" ] || cmake -S . -B "$dir" "${generator[@]}" "$@" >/dev/null
  cmake -S . -B "$dir" -DBACKLOGD_PYTHON="$python" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== unit tests under ASan and UBSan (build-asan/)"
configure_and_build build-asan -DCMAKE_BUILD_TYPE=Debug -DBACKLOGD_DEVELOPER=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"

echo "== full suite against the real broker and registry (build/)"
configure_and_build build
trap 'scripts/testenv.sh stop all || true' EXIT
scripts/testenv.sh start all
eval "$(scripts/testenv.sh env)"
export BACKLOGD_TEST_BOOTSTRAP BACKLOGD_TEST_REGISTRY
ctest --test-dir build --output-on-failure
