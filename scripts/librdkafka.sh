#!/usr/bin/env bash
# librdkafka.sh — the librdkafka that backlogd builds on, fetched by version and
# checksum and built once into the cache (SPEC: Debian 12's 2.0.2 cannot log in
# with SCRAM to Kafka 4, librdkafka bug #4895, fixed in 2.6.1).
#
#   scripts/librdkafka.sh fetch    the source archive into the cache, checksum verified (no-op when there)
#   scripts/librdkafka.sh build    fetch if needed, build and install into the prefix (no-op when built)
#   scripts/librdkafka.sh prefix   print the prefix (include/, lib/librdkafka.a, lib/pkgconfig/rdkafka.pc)
#   scripts/librdkafka.sh env      print shell exports for a build by hand (eval "$(... env)")
#
# The source: librdkafka's released source reaches this machine only inside the npm
# package node-rdkafka, which carries one release whole under deps/librdkafka
# (node-rdkafka 3.6.1: librdkafka 2.12.0, every file identical to upstream's v2.12.0
# tag). `npm pack` fetches that one archive (nothing is installed, no package
# script runs); its SHA-512 is pinned below and checked before anything is unpacked.
#
# The build: a static library (librdkafka.a, position-independent) with OpenSSL,
# Cyrus SASL (GSSAPI), SCRAM, OAUTHBEARER with OIDC (libcurl), zstd, lz4 and zlib,
# all from Debian's -dev packages (scripts/install-deps.sh). Static, so that
# build/backlogd, the tests and the benchmarks run without LD_LIBRARY_PATH or an
# RPATH into the cache, an installed binary (the Docker image) carries its
# librdkafka inside, and the dynamic loader can never hand it Debian's librdkafka1
# (which kcat pulls in) instead. The pkg-config file written beside it (rdkafka.pc)
# names the shared libraries librdkafka needs, which upstream's static one leaves out.
#
# Environment (defaults in brackets):
#   BACKLOGD_CACHE   [$HOME/.cache/backlogd]  the prefix is $BACKLOGD_CACHE/librdkafka-<version>
#   BACKLOGD_JOBS    [nproc]                  parallel compile jobs
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------
RDKAFKA_VERSION=2.12.0
RDKAFKA_VERSION_HEX=0x020c00ff          # RD_KAFKA_VERSION in rdkafka.h for 2.12.0
CARRIER=node-rdkafka@3.6.1
CARRIER_FILE=node-rdkafka-3.6.1.tgz
# sha512 of $CARRIER_FILE; npm shows it as integrity
# sha512-sfpTbrT35429cs0RE8Yb9avGX9BiRRvpV7aweQsghKTjtrVZP3jBrKOPItWXAqHb8doyh3SkuGuUVBLgig1SRg==
CARRIER_SHA512=b1fa536eb4f7e78dbd72cd1113c61bf5abc65fd062451be957b6b0790b2084a4e3b6b5593f78c1aca38f22d59702a1dbf1da328774a4b86b945412e08a0d5246
# The libraries the build must find, as config.h names them; each one's
# pkg-config module goes into rdkafka.pc's Requires.
FEATURES=(WITH_SSL WITH_SASL_CYRUS WITH_SASL_SCRAM WITH_SASL_OAUTHBEARER WITH_OAUTHBEARER_OIDC
          WITH_CURL WITH_ZSTD WITH_LZ4_EXT WITH_ZLIB)
PC_REQUIRES="libssl libcrypto libsasl2 libcurl libzstd liblz4 zlib"
CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=RelWithDebInfo      # -O2 -g: readable stacks under valgrind and ASan
  -DRDKAFKA_BUILD_STATIC=ON              # also makes the objects position-independent
  -DRDKAFKA_BUILD_EXAMPLES=OFF -DRDKAFKA_BUILD_TESTS=OFF
  -DWITH_SSL=ON -DWITH_SASL=ON -DWITH_CURL=ON -DWITH_ZSTD=ON -DENABLE_LZ4_EXT=ON -DWITH_ZLIB=ON
)

# ---- settings ----------------------------------------------------------------
CACHE=$(realpath -m "${BACKLOGD_CACHE:-${HOME:?HOME is not set}/.cache/backlogd}")
PREFIX=$CACHE/librdkafka-$RDKAFKA_VERSION
ARCHIVE=$CACHE/$CARRIER_FILE
LOG=$CACHE/librdkafka-build.log
JOBS=${BACKLOGD_JOBS:-$(nproc 2>/dev/null || echo 2)}

log() { echo "librdkafka: $*" >&2; }
die() { log "error: $*"; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

# What a built prefix was made from: a change of version, archive or options rebuilds.
stamp() { echo "librdkafka=$RDKAFKA_VERSION sha512=${CARRIER_SHA512:0:16} args=$(echo "${CMAKE_ARGS[*]} $PC_REQUIRES" | sha256sum | cut -c1-16)"; }

verified() { [[ -f $1 ]] && echo "$CARRIER_SHA512  $1" | sha512sum --check --status; }

# Runs a step with its output in $LOG. When it fails, the step's output is shown
# whole, less the lines that only report progress ("[ 42%] Building C object",
# "Entering directory", ninja's "[12/80]"). scripts/quiet.sh holds the same for
# the other scripts; this one stays self-contained because the Dockerfile copies
# it alone. BACKLOGD_VERBOSE=1 shows everything as it comes.
CHATTER='^\[ *[0-9]+%\] (Building|Linking|Built target|Generating)|^g?make(\[[0-9]+\])?: (Entering|Leaving) directory|^\[[0-9]+/[0-9]+\] '
quietly() {
  local first_line status
  if [[ ${BACKLOGD_VERBOSE:-0} == 1 ]]; then
    "$@" 2>&1 | tee -a "$LOG" >&2
    return "${PIPESTATUS[0]}"
  fi
  first_line=$(($(wc -l <"$LOG") + 1))
  "$@" >>"$LOG" 2>&1 && return 0
  status=$?
  {
    echo "---- '$*' failed (exit status $status); its output:"
    tail -n "+$first_line" "$LOG" | grep -Ev "$CHATTER" || true
  } >&2
  return "$status"
}

# ---- fetch -------------------------------------------------------------------
do_fetch() {
  verified "$ARCHIVE" && return 0
  need_cmd npm "scripts/install-deps.sh installs Debian's npm"
  mkdir -p "$CACHE"
  local tmp
  tmp=$(mktemp -d "$CACHE/.librdkafka-fetch-XXXXXX")
  log "fetching $CARRIER (librdkafka $RDKAFKA_VERSION source)"
  : >"$LOG"
  # Its own npm cache, so that nothing in ~/.npm decides what arrives.
  if ! quietly npm pack "$CARRIER" --pack-destination "$tmp" --cache "$tmp/npm-cache" \
         --ignore-scripts --loglevel=error --no-fund --no-audit; then
    rm -rf "$tmp"
    die "npm pack $CARRIER failed (log: $LOG)"
  fi
  if ! verified "$tmp/$CARRIER_FILE"; then
    local got
    got=$(sha512sum "$tmp/$CARRIER_FILE" 2>/dev/null | cut -d' ' -f1)
    rm -rf "$tmp"
    die "checksum mismatch for $CARRIER_FILE: expected sha512 $CARRIER_SHA512, got ${got:-nothing}"
  fi
  mv "$tmp/$CARRIER_FILE" "$ARCHIVE"
  rm -rf "$tmp"
}

# ---- build -------------------------------------------------------------------
built() { [[ -f $PREFIX/.complete && $(<"$PREFIX/.complete") == "$(stamp)" ]]; }

# The version rdkafka.h declares, as RD_KAFKA_VERSION.
header_version() { sed -n 's/^#define RD_KAFKA_VERSION[[:space:]]\{1,\}\(0x[0-9a-fA-F]\{8\}\).*/\1/p' "$1"; }

check_features() { # config.h
  local feature missing=()
  for feature in "${FEATURES[@]}"; do
    grep -q "^#define $feature 1" "$1" || missing+=("$feature")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "configured without ${missing[*]}: are libssl-dev libsasl2-dev libcurl4-openssl-dev libzstd-dev liblz4-dev zlib1g-dev installed? (scripts/install-deps.sh)"
  return 1
}

write_pc() { # file
  cat >"$1" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: librdkafka
Description: librdkafka $RDKAFKA_VERSION, static, built by backlogd's scripts/librdkafka.sh
Version: $RDKAFKA_VERSION
Requires: $PC_REQUIRES
Cflags: -I\${includedir} -DLIBRDKAFKA_STATICLIB
Libs: -L\${libdir} -lrdkafka -lpthread -lrt -ldl -lm
EOF
}

do_build() {
  built && return 0
  mkdir -p "$CACHE"
  exec 9>"$PREFIX.lock"
  flock 9
  built && return 0 # another run built it while this one waited
  do_fetch
  need_cmd cmake "scripts/install-deps.sh installs it"
  need_cmd c++ "librdkafka's CMake project needs a C++ compiler (build-essential)"
  local tmp src obj stage generator=()
  tmp=$(mktemp -d "$CACHE/.librdkafka-build-XXXXXX")
  src=$tmp/src obj=$tmp/obj stage=$tmp/stage
  log "building librdkafka $RDKAFKA_VERSION into $PREFIX (once; log: $LOG)"
  : >"$LOG"
  mkdir -p "$src"
  tar -xzf "$ARCHIVE" -C "$src" --strip-components=3 package/deps/librdkafka ||
    { rm -rf "$tmp"; die "$CARRIER_FILE holds no package/deps/librdkafka"; }
  [[ $(header_version "$src/src/rdkafka.h") == "$RDKAFKA_VERSION_HEX" ]] ||
    { rm -rf "$tmp"; die "$CARRIER_FILE carries librdkafka $(header_version "$src/src/rdkafka.h"), not $RDKAFKA_VERSION_HEX"; }
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  # The system's default compilers and flags, whatever the caller's build uses
  # (CC=clang for the fuzz build): the cache holds one library for all of them.
  if ! quietly env -u CC -u CXX -u CFLAGS -u CXXFLAGS -u LDFLAGS -u CPPFLAGS \
         cmake -S "$src" -B "$obj" "${generator[@]}" "${CMAKE_ARGS[@]}" -DCMAKE_INSTALL_PREFIX="$PREFIX" ||
     ! check_features "$obj/generated/config.h" ||
     ! quietly cmake --build "$obj" --target rdkafka -j "$JOBS"; then
    rm -rf "$tmp"
    die "building librdkafka $RDKAFKA_VERSION failed (log: $LOG)"
  fi
  # Only the C library: its two public headers, the archive, the licences it
  # must travel with, and the pkg-config file CMakeLists.txt reads.
  mkdir -p "$stage/include/librdkafka" "$stage/lib/pkgconfig" "$stage/share/doc/librdkafka"
  cp "$src/src/rdkafka.h" "$src/src/rdkafka_mock.h" "$stage/include/librdkafka/"
  cp "$obj/src/librdkafka.a" "$stage/lib/"
  cp "$src/LICENSE" "$src/LICENSES.txt" "$stage/share/doc/librdkafka/"
  write_pc "$stage/lib/pkgconfig/rdkafka.pc"
  stamp >"$stage/.complete"
  rm -rf "$PREFIX"
  mv "$stage" "$PREFIX"
  rm -rf "$tmp"
}

# ---- main --------------------------------------------------------------------
case ${1:-} in
  fetch) do_fetch ;;
  build) do_build ;;
  prefix) echo "$PREFIX" ;;
  env)
    printf 'export BACKLOGD_RDKAFKA_PREFIX=%q\n' "$PREFIX"
    printf 'export PKG_CONFIG_PATH=%q\n' "$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
