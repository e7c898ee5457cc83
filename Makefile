# The two front doors of backlogd: `make demo` and `make test`.
# Everything else is CMake (build/); these targets also install what is missing,
# librdkafka included (scripts/librdkafka.sh: built once into the cache).

.PHONY: all build test demo clean

all: build

build:
	@scripts/install-deps.sh
	@scripts/librdkafka.sh build
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $$(nproc)

# The whole suite: unit tests with ASan+UBSan, then unit, valgrind and
# integration tests against a real Kafka broker and Schema Registry that the
# suite fetches, starts and stops itself.
test:
	@scripts/run-tests.sh

# The embedded demo: the whole pipeline on librdkafka's mock cluster, in-process,
# with a live view and a summary (docs/cli/demo.md).
demo: build
	@build/backlogd demo --duration 30

clean:
	rm -rf build build-asan build-fuzz
