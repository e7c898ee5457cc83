# The two front doors of backlogd: `make demo` and `make test`.
# Everything else is CMake (build/); these targets also install what is missing,
# librdkafka included (scripts/librdkafka.sh: built once into the cache).
# Each step prints one line and keeps its output in a log, shown when the step
# fails (scripts/quiet.sh); `make V=1` shows everything as it comes.

.PHONY: all build test demo clean

MAKEFLAGS += --no-print-directory
ifeq ($(V),1)
export BACKLOGD_VERBOSE := 1
endif

all: build

build:
	@scripts/install-deps.sh
	@scripts/librdkafka.sh build
	@scripts/build.sh

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
