#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. install missing Debian packages, the Python test environment, the
#      deployment validators (kustomize, promtool) and librdkafka (built once
#      from its released source, scripts/librdkafka.sh) into the cache, and start
#      the container image's build in the background where podman can build
#      (scripts/image.sh; integration.image uses it at the end);
#   2. build and run the unit tests with ASan and UBSan (build-asan/);
#   3. build the three libFuzzer targets with clang (build-fuzz/): fuzz_decode
#      (one record through the decoder), fuzz_pipeline (sequences of records
#      through decoder, backlog and outputs) and fuzz_records (a snapshot read
#      directly and the generic way); fuzz each from a copy of its seed corpus
#      for a third of BACKLOGD_FUZZ_SECONDS (default 60, so 20 s each): a
#      crash, a leak or a timeout fails the suite;
#   4. build the normal configuration (build/), run the unit tests there under
#      valgrind (in parallel: they need no broker), then start the real Kafka
#      broker and Schema Registry, run the integration tests, and stop the
#      servers whatever happened (the unit label, CLI tier included, ran under
#      ASan in step 2).
# Exit status 0 only when every step passed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
scripts/librdkafka.sh build # every build directory below links this one (CMakeLists.txt)

# The container image (integration.image, at the end) takes minutes to build cold: it is
# built now, beside the steps below, which wait on the broker and timers more than on the
# CPU. integration.image waits for this build (scripts/image.sh holds a lock) and then finds
# the image tagged. Where podman cannot build here, nothing starts and the tier skips.
mkdir -p build
if scripts/image.sh check >/dev/null 2>&1; then
  echo "== building the container image in the background (log: build/image-build.log)"
  scripts/image.sh build >build/image-build.log 2>&1 &
  image_build=$!
fi
# Whatever happens below: no image build left running, no test servers left up.
cleanup() {
  [ -z "${image_build:-}" ] || kill "$image_build" 2>/dev/null || true
  [ -z "${servers_started:-}" ] || scripts/testenv.sh stop all || true
}
trap cleanup EXIT
python=$(scripts/python-env.sh)
scripts/deploy-tools.sh >/dev/null # kustomize and promtool for the deployment checks, into the cache
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

fuzz_seconds=${BACKLOGD_FUZZ_SECONDS:-60}
fuzz_each=$(((fuzz_seconds + 2) / 3))
[ -f build-fuzz/CMakeCache.txt ] ||
  CC=clang cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBACKLOGD_FUZZ=ON >/dev/null
cmake -S . -B build-fuzz -DBACKLOGD_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_decode fuzz_pipeline fuzz_records

# fuzz target, corpus name: fuzzes for fuzz_each seconds from a copy of tests/fuzz/corpus/<name>/.
fuzz() {
  local target=$1 name=$2
  echo "== fuzzing $target for ${fuzz_each} s (build-fuzz/)"
  # The run grows its own copy of the corpus; tests/fuzz/corpus/ changes only by hand.
  rm -rf "build-fuzz/corpus/$name" "build-fuzz/artifacts/$name"
  mkdir -p "build-fuzz/corpus/$name" "build-fuzz/artifacts/$name"
  cp "tests/fuzz/corpus/$name"/* "build-fuzz/corpus/$name/"
  if ! BACKLOGD_FIXTURES="$repo/tests/fixtures" UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/$target" -max_total_time="$fuzz_each" -rss_limit_mb=1024 -max_len=8192 -timeout=5 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$name/" "build-fuzz/corpus/$name" \
    >"build-fuzz/$target.log" 2>&1; then
    tail -n 60 "build-fuzz/$target.log"
    echo "$target failed (log: build-fuzz/$target.log); reproduce with build-fuzz/$target <input>:" >&2
    ls -1 "build-fuzz/artifacts/$name"/* >&2 2>/dev/null || echo "  (no input was written)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "build-fuzz/$target.log"
}
fuzz fuzz_decode decode
fuzz fuzz_pipeline pipeline
fuzz fuzz_records records

echo "== unit tests under valgrind (build/)"
configure_and_build build
ctest --test-dir build -L valgrind --output-on-failure -j "$jobs"

# The unit label (the unit tests and the CLI tier) ran above under ASan and UBSan already.
echo "== integration tests against the real broker and registry (build/)"
servers_started=1
scripts/testenv.sh start all
eval "$(scripts/testenv.sh env)"
export BACKLOGD_TEST_BOOTSTRAP BACKLOGD_TEST_REGISTRY
# Two at a time whatever the cores: they share one broker and one registry (CMakeLists.txt says which run alone).
ctest --test-dir build -L integration --output-on-failure -j 2
