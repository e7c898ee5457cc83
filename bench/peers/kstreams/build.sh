#!/usr/bin/env bash
# build.sh: fetches and builds the Kafka Streams peer of bench/e2e into the cache,
# the way scripts/testenv.sh fetches the test broker.
#
#   bench/peers/kstreams/build.sh build            resolve the jars, compile; no-op when up to date
#   bench/peers/kstreams/build.sh classpath        build if needed, print the java classpath
#   bench/peers/kstreams/build.sh run [ARGS...]    build if needed, exec the peer (see run --help)
#   bench/peers/kstreams/build.sh check            exit 0 when java, javac and mvn are on PATH, 3 otherwise
#
# Only Java 17 and Maven are needed. The jars (kafka-streams, avro, log4j2, see
# pom.xml) are resolved with maven-dependency-plugin's copy-dependencies into
# $BACKLOGD_CACHE (its own local repository under m2/, shared with testenv.sh);
# src/ is compiled with javac into the same cache entry. Nothing downloaded or
# built is written into the source tree.
#
# Environment (defaults in brackets):
#   BACKLOGD_CACHE          [$HOME/.cache/backlogd]  the cache
#   BACKLOGD_PEER_JAVA_OPTS [-Xms256m -Xmx256m -XX:+UseParallelGC]  the JVM's options for run
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------
KAFKA_VERSION=4.1.1           # the Streams library: the same release as the test broker
AVRO_VERSION=1.12.1
LOG4J_VERSION=2.24.3          # the log4j2 that kafka 4.1.1 itself depends on
DEP_PLUGIN_VERSION=3.8.1      # maven-dependency-plugin for copy-dependencies

# check first: it needs nothing but bash, so that it answers on a machine without the tools too
if [[ ${1:-} == check ]]; then
  command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 || exit 3
  exit 0
fi

PEER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=$(realpath -m "${BACKLOGD_CACHE:-${HOME:?HOME is not set}/.cache/backlogd}")
M2_REPO=$CACHE/m2
PEER_HOME=$CACHE/kstreams-peer-$KAFKA_VERSION
MAIN_CLASS=io.backlogd.peer.KStreamsPeer
read -r -a JAVA_OPTS <<<"${BACKLOGD_PEER_JAVA_OPTS:--Xms256m -Xmx256m -XX:+UseParallelGC}"

log() { echo "kstreams-peer: $*" >&2; }
die() { log "error: $*"; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

# What the cache entry was built from; a change rebuilds.
libs_stamp() { echo "kafka=$KAFKA_VERSION avro=$AVRO_VERSION log4j=$LOG4J_VERSION pom=$(sha256sum <"$PEER_SRC/pom.xml" | cut -c1-16)"; }
classes_stamp() {
  (cd "$PEER_SRC" && find src -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

fetch_libs() {
  if [[ -f $PEER_HOME/libs/.complete && $(<"$PEER_HOME/libs/.complete") == "$(libs_stamp)" ]]; then
    return 0
  fi
  need_cmd mvn "Maven is needed to fetch the peer's jars"
  log "fetching kafka-streams $KAFKA_VERSION and avro $AVRO_VERSION into $PEER_HOME/libs"
  mkdir -p "$PEER_HOME"
  local tmp out=$CACHE/mvn-peer-last.log
  tmp=$(mktemp -d "$PEER_HOME/.libs-XXXXXX")
  if ! mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" -f "$PEER_SRC/pom.xml" \
         -Dkafka.version="$KAFKA_VERSION" -Davro.version="$AVRO_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
         "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy-dependencies" \
         -DincludeScope=runtime -DoutputDirectory="$tmp" >"$out" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v '^[[:space:]]*$' | tail -n 30 >&2
    rm -rf "$tmp"
    die "could not resolve the peer's jars with Maven (log: $out)"
  fi
  libs_stamp >"$tmp/.complete"
  rm -rf "$PEER_HOME/libs"
  mv "$tmp" "$PEER_HOME/libs"
}

compile() {
  local stamp
  stamp=$(classes_stamp)
  if [[ -f $PEER_HOME/classes/.complete && $(<"$PEER_HOME/classes/.complete") == "$stamp" ]]; then
    return 0
  fi
  need_cmd javac "a Java 17 JDK is needed to compile the peer"
  log "compiling the peer into $PEER_HOME/classes"
  local tmp sources=()
  tmp=$(mktemp -d "$PEER_HOME/.classes-XXXXXX")
  mapfile -t sources < <(find "$PEER_SRC/src/main/java" -name '*.java' | sort)
  if ! javac -nowarn --release 17 -encoding UTF-8 -d "$tmp" -cp "$PEER_HOME/libs/*" "${sources[@]}"; then
    rm -rf "$tmp"
    die "javac failed"
  fi
  cp "$PEER_SRC/src/main/resources/log4j2.xml" "$tmp/"
  echo "$stamp" >"$tmp/.complete"
  rm -rf "$PEER_HOME/classes"
  mv "$tmp" "$PEER_HOME/classes"
}

build() {
  need_cmd java "Java 17 is needed"
  fetch_libs
  compile
}

classpath() { echo "$PEER_HOME/classes:$PEER_HOME/libs/*"; }

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
  build) build ;;
  classpath) build; classpath ;;
  run)
    shift
    build
    exec java "${JAVA_OPTS[@]}" -Dlog4j2.configurationFile=log4j2.xml -cp "$(classpath)" "$MAIN_CLASS" "$@"
    ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
