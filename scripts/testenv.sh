#!/usr/bin/env bash
# testenv.sh — a real Apache Kafka broker and a real Apicurio Schema Registry
# (Confluent-compatible API) for backlogd's test suite, on 127.0.0.1 only.
#
#   scripts/testenv.sh fetch  [kafka|registry|all]  resolve the artifacts into the cache (no-op when cached)
#   scripts/testenv.sh start  [kafka|registry|all]  fetch if needed, start in the background, wait until it answers
#   scripts/testenv.sh stop   [kafka|registry|all]  TERM, then KILL after a timeout; exit 0 if not running
#   scripts/testenv.sh status [kafka|registry|all]  exit 0 if all running, 3 otherwise
#   scripts/testenv.sh env                          print shell exports for the tests (eval "$(... env)")
#   scripts/testenv.sh tool NAME [args...]          run a Kafka CLI tool with the cached classpath, e.g.
#                                                   tool kafka-topics --bootstrap-server 127.0.0.1:19092 --describe
#
# Only Java 17 and Maven are needed. Everything is resolved through Maven into
# $BACKLOGD_CACHE (its own local repository under m2/), so a fresh machine fills
# the cache and later runs reuse it:
#   Kafka    org.apache.kafka:kafka_2.13 + kafka-tools (copy-dependencies of
#            scripts/testenv/pom.xml), run as a single-node KRaft combined
#            broker+controller (node.id=1) with a fresh log dir on every start.
#   Registry io.apicurio:apicurio-registry-app, classifier "all" tar.gz (a
#            Quarkus app), unpacked once, run with in-memory (H2) storage.
#
# The broker's listeners (P = BACKLOGD_TESTENV_KAFKA_PORT):
#   P    PLAINTEXT  no authentication; principal User:ANONYMOUS, a super user (what
#                   every test uses unless it tests security)
#   P+1  CONTROLLER the KRaft controller (PLAINTEXT)
#   P+2  SASL_SSL   SCRAM-SHA-512 and SCRAM-SHA-256 over TLS; users made at format
#                   time: backlogd, topicjob, producer, publisher, auditor, operator
#                   and admin (a super user), with the passwords of SCRAM_USERS below
#                   (quotes, backslashes, a dollar: they need escaping in JSON and in
#                   a shell); <run dir>/scram-users.json maps each user to its password
#   P+3  SSL        mutual TLS (a client certificate is required); principal User:<CN>
# The authorizer is the StandardAuthorizer with allow.everyone.if.no.acl.found=false
# and super.users User:ANONYMOUS and User:admin, so a secured client gets only
# what the ACLs a test creates grant. Its decisions for every principal but
# ANONYMOUS (ALLOWED at DEBUG, DENIED at INFO) go to <run dir>/authorizer.log.
# Each start makes a throwaway CA under <run dir>/tls with openssl: ca.crt, the
# broker's certificate (SANs IP:127.0.0.1 and DNS:localhost), and client
# certificates <cn>.crt / <cn>.key (unencrypted PEM) for CN worker and backlogd.
#
# Environment (defaults in brackets):
#   BACKLOGD_CACHE          [$HOME/.cache/backlogd]  downloaded artifacts
#   BACKLOGD_TESTENV_DIR    [<repo>/build/testenv]   logs, pid files, KRaft log dir
#   BACKLOGD_TESTENV_KAFKA_PORT     [19092]                  controller on port+1, SASL_SSL on +2, mutual TLS on +3
#   BACKLOGD_TESTENV_REGISTRY_PORT  [18081]
#   BACKLOGD_TESTENV_START_TIMEOUT [120] / BACKLOGD_TESTENV_STOP_TIMEOUT [20]  seconds
set -euo pipefail

# ---- pinned versions ---------------------------------------------------------
KAFKA_VERSION=4.1.1
LOG4J_VERSION=2.24.3          # the log4j2 that kafka 4.1.1 itself depends on
APICURIO_VERSION=3.0.9        # 3.3.x needs Java 21; 3.0.9 runs on Java 17
DEP_PLUGIN_VERSION=3.8.1      # maven-dependency-plugin for copy-dependencies
# Apicurio's parent pom (io.apicurio:apicurio-registry:pom) is not served, so the
# 3.x plugin, which reads the artifact's pom, cannot resolve the archive; 2.8's
# `get -Dtransitive=false` fetches the file without reading its pom.
DEP_PLUGIN_GET_VERSION=2.8

# ---- settings ----------------------------------------------------------------
HOST=127.0.0.1
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TESTENV_SRC=$SCRIPT_DIR/testenv
CACHE=$(realpath -m "${BACKLOGD_CACHE:-${HOME:?HOME is not set}/.cache/backlogd}")
RUN_DIR=$(realpath -m "${BACKLOGD_TESTENV_DIR:-$REPO_ROOT/build/testenv}")
KAFKA_PORT=${BACKLOGD_TESTENV_KAFKA_PORT:-19092}
REGISTRY_PORT=${BACKLOGD_TESTENV_REGISTRY_PORT:-18081}
START_TIMEOUT=${BACKLOGD_TESTENV_START_TIMEOUT:-120}
STOP_TIMEOUT=${BACKLOGD_TESTENV_STOP_TIMEOUT:-20}

for port in "$KAFKA_PORT" "$REGISTRY_PORT"; do
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65532)); then
    echo "testenv: error: bad port '$port' in BACKLOGD_TESTENV_KAFKA_PORT / BACKLOGD_TESTENV_REGISTRY_PORT" >&2
    exit 1
  fi
done
CONTROLLER_PORT=$((KAFKA_PORT + 1))
SASL_PORT=$((KAFKA_PORT + 2))
MTLS_PORT=$((KAFKA_PORT + 3))
TLS_DIR=$RUN_DIR/tls
AUTHORIZER_LOG=$RUN_DIR/authorizer.log
SCRAM_USERS_FILE=$RUN_DIR/scram-users.json
# SCRAM users and their passwords (the same for SCRAM-SHA-512 and -256). Each
# password holds a character that JSON or a shell must escape; none holds a
# comma or a leading or trailing blank, which kafka-storage's --add-scram
# syntax cannot carry.
SCRAM_USERS=(
  backlogd 'bl"pass\n'"'"'$HOME'
  topicjob 'job\"pw'"'"'1'
  producer 'pro"du ce\\'
  admin 'adm\in"0'"'"'$'
  publisher 'pub"lish\'"'"'x'
  auditor 'aud\it"or'"'"'$1'
  operator 'op"er\ator'"'"'!'
)
# Client certificates made for the mutual-TLS listener, by CN.
TLS_CLIENTS=(worker backlogd)

M2_REPO=$CACHE/m2
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
REGISTRY_HOME=$CACHE/apicurio-registry-$APICURIO_VERSION
REGISTRY_CCOMPAT_PATH=/apis/ccompat/v7
# Tools find tools-conf/log4j2.xml (warnings to stderr) first on the classpath.
KAFKA_CLASSPATH="$TESTENV_SRC/tools-conf:$KAFKA_HOME/libs/*"

LAUNCHED=()       # services launched by this invocation (stopped if start fails)
declare -A T0=()  # ... and when each was launched

log() { echo "testenv: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- helpers -----------------------------------------------------------------
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

# Runs Maven quietly against scripts/testenv/pom.xml (-f: never some other
# pom.xml from the current directory); its output is shown only on failure.
run_mvn() {
  need_cmd mvn "Maven is needed to fetch the test artifacts"
  mkdir -p "$CACHE"
  local out=$CACHE/mvn-last.log
  if mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" \
       -f "$TESTENV_SRC/pom.xml" \
       -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" "$@" >"$out" 2>&1; then
    return 0
  fi
  # Strip the colour escapes Maven prints even in batch mode.
  sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v '^[[:space:]]*$' | tail -n 30 >&2
  return 1
}

# True if something accepts TCP connections on $HOST:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# HTTP status code of GET http://$HOST:$1$2 ("000" when there is no answer).
http_status() {
  local port=$1 path=$2 line
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HOST:$port$path" || true
    return 0
  fi
  line=$( (exec 3<>"/dev/tcp/$HOST/$port" &&
           printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$path" "$HOST" "$port" >&3 &&
           timeout 5 head -n1 <&3) 2>/dev/null || true)
  line=${line#* }
  echo "${line%% *}" | grep -E '^[0-9]{3}$' || echo 000
}

# Fail with a clear message when a port we need is taken.
require_free_port() {
  local port=$1 what=$2
  if port_open "$port"; then
    local who=""
    command -v ss >/dev/null 2>&1 && who=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n3)
    die "port $port ($what) is already in use${who:+:
$who}
(set BACKLOGD_TESTENV_KAFKA_PORT / BACKLOGD_TESTENV_REGISTRY_PORT to use other ports)"
  fi
}

# Each service's java command line carries -Dbacklogd.testenv=<RUN_DIR>/<name>,
# so a pid is only ever signalled if it is really this testenv's process.
marker() { echo "-Dbacklogd.testenv=$RUN_DIR/$1"; }

is_ours() {
  local pid=$1 want arg args=()
  want=$(marker "$2")
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  for arg in "${args[@]}"; do [[ $arg == "$want" ]] && return 0; done
  return 1
}

# Pids of this testenv's $1 process: from its pid file, or, if the pid file is
# gone (start died halfway, build dir wiped), found by its marker in /proc.
service_pids() {
  local name=$1 pid p
  if [[ -f $RUN_DIR/$name.pid ]]; then
    pid=$(<"$RUN_DIR/$name.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid" "$name"; then
      echo "$pid"
      return 0
    fi
  fi
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" ]] && continue
    is_ours "$p" "$name" && echo "$p"
  done
  return 0
}

is_running() { [[ -n $(service_pids "$1") ]]; }

# Start "$@" detached (own session, no tty, output to the file $2), recording
# its pid in <RUN_DIR>/<name>.pid before it execs, and in LAUNCHED/T0.
launch() {
  local name=$1 out=$2
  shift 2
  LAUNCHED+=("$name")
  T0[$name]=$SECONDS
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$RUN_DIR/$name.pid" "$@" \
    </dev/null >"$out" 2>&1 &
  disown  # no "Killed" job notices from this shell; stop_service manages it
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -s $RUN_DIR/$name.pid ]] && return 0
    sleep 0.1
  done
  die "$name did not start (no pid file)"
}

show_tail() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    echo "---- last 40 lines of $f ----" >&2
    tail -n 40 "$f" >&2
  done
}

# ---- fetch -------------------------------------------------------------------
# The stamp records what the cache entry was built from; a change refetches.
kafka_stamp() { echo "kafka=$KAFKA_VERSION log4j=$LOG4J_VERSION pom=$(sha256sum <"$TESTENV_SRC/pom.xml" | cut -c1-16)"; }

fetch_kafka() {
  if [[ -f $KAFKA_HOME/.complete && $(<"$KAFKA_HOME/.complete") == "$(kafka_stamp)" ]]; then
    return 0
  fi
  log "fetching Kafka $KAFKA_VERSION into $KAFKA_HOME"
  mkdir -p "$CACHE"
  local tmp
  tmp=$(mktemp -d "$CACHE/.kafka-XXXXXX")
  if ! run_mvn "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy-dependencies" \
         -DincludeScope=runtime -DoutputDirectory="$tmp/libs"; then
    rm -rf "$tmp"
    die "could not resolve Kafka $KAFKA_VERSION with Maven"
  fi
  kafka_stamp >"$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

fetch_registry() {
  [[ -f $REGISTRY_HOME/.complete ]] && return 0
  log "fetching Apicurio Registry $APICURIO_VERSION into $REGISTRY_HOME"
  mkdir -p "$CACHE"
  local gav="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
  local tarball="$M2_REPO/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  run_mvn "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_GET_VERSION:get" \
    -Dtransitive=false -Dartifact="$gav" || die "could not resolve $gav with Maven"
  [[ -f $tarball ]] || die "Maven reported success but $tarball is missing"
  local tmp
  tmp=$(mktemp -d "$CACHE/.registry-XXXXXX")
  tar -xzf "$tarball" -C "$tmp" || { rm -rf "$tmp"; die "could not unpack $tarball"; }
  [[ -n $(registry_jar "$tmp") ]] || { rm -rf "$tmp"; die "no runnable jar in $tarball"; }
  echo "apicurio=$APICURIO_VERSION" >"$tmp/.complete"
  rm -rf "$REGISTRY_HOME"
  mv "$tmp" "$REGISTRY_HOME"
}

# The archive holds either a Quarkus fast-jar (quarkus-run.jar, 3.1+) or a
# legacy runner jar (apicurio-registry-app-X-runner.jar, 3.0.x).
registry_jar() {
  local d=$1 f
  for f in "$d/quarkus-run.jar" "$d"/*-runner.jar; do
    [[ -f $f ]] && { echo "$f"; return 0; }
  done
  return 0
}

# ---- Kafka -------------------------------------------------------------------
# Short-lived Kafka tool JVMs: small heap, C1 JIT only (starts faster).
TOOL_JAVA_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1)

kafka_java() {
  need_cmd java "Java 17 is needed"
  java "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_CLASSPATH" "$@"
}

# A random Kafka Uuid (16 bytes, URL-safe base64 without padding, 22
# characters). One that begins with '-' is drawn again, as Kafka's own
# Uuid.randomUuid does: kafka-storage would read it as an option.
random_cluster_id() {
  local id
  while :; do
    id=$(head -c16 /dev/urandom | basenc --base64url)
    id=${id%%=*}
    [[ $id != -* ]] && break
  done
  echo "$id"
}

# ---- TLS and SCRAM -----------------------------------------------------------
# Makes a throwaway CA, the broker's certificate (SANs IP:127.0.0.1 and
# DNS:localhost; key and chain in broker.pem, the PEM keystore) and a client
# certificate per TLS_CLIENTS name under TLS_DIR. EC P-256 keys: quick to make.
make_tls() {
  need_cmd openssl "openssl makes the test broker's certificates"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 30)
  openssl req -x509 "${ec[@]}" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" \
    -subj "/CN=backlogd testenv CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$TLS_DIR/openssl.log" || tls_failed
  issue_cert broker "/CN=localhost" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "extendedKeyUsage=serverAuth"
  cat "$TLS_DIR/broker.key" "$TLS_DIR/broker.crt" >"$TLS_DIR/broker.pem"
  local cn
  for cn in "${TLS_CLIENTS[@]}"; do issue_cert "$cn" "/CN=$cn" "extendedKeyUsage=clientAuth"; done
}

# issue_cert NAME SUBJECT EXTENSION...: NAME.key and NAME.crt signed by the CA.
issue_cert() {
  local name=$1 subject=$2 ext
  shift 2
  local args=()
  for ext in "$@"; do args+=(-addext "$ext"); done
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 30 \
    -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" -subj "$subject" "${args[@]}" \
    -keyout "$TLS_DIR/$name.key" -out "$TLS_DIR/$name.crt" 2>>"$TLS_DIR/openssl.log" || tls_failed
}

tls_failed() { show_tail "$TLS_DIR/openssl.log"; die "making the test certificates failed"; }

# kafka-storage's --add-scram arguments for every SCRAM user, both mechanisms.
scram_format_args() {
  local i mechanism
  for ((i = 0; i < ${#SCRAM_USERS[@]}; i += 2)); do
    for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
      printf '%s\0' --add-scram "$mechanism=[name=${SCRAM_USERS[i]},password=${SCRAM_USERS[i + 1]}]"
    done
  done
}

json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

write_scram_users_file() {
  local i sep="" out="{"
  for ((i = 0; i < ${#SCRAM_USERS[@]}; i += 2)); do
    out+="$sep$(json_string "${SCRAM_USERS[i]}"): $(json_string "${SCRAM_USERS[i + 1]}")"
    sep=", "
  done
  echo "$out}" >"$SCRAM_USERS_FILE"
}

write_server_properties() {
  cat >"$RUN_DIR/server.properties" <<EOF
# Generated by scripts/testenv.sh: single-node KRaft test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT,SASL_SSL://$HOST:$SASL_PORT,SSL://$HOST:$MTLS_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$SASL_PORT,SSL://$HOST:$MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
# Secured listeners: SCRAM over TLS, and mutual TLS with the certificate's CN as the user.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
ssl.principal.mapping.rules=RULE:^CN=([^,]*).*\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS;User:admin
log.dirs=$RUN_DIR/kafka-data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Some tests stop the whole node (SIGSTOP) for 30 s. Waking up, its controller would fence its own broker for
# the heartbeats it missed, and unfencing it moves every partition's leader and reloads the coordinators:
# 8 to 15 s more, growing with the partitions the suite has made, in which no transaction can end. A broker
# stalled in a real cluster has its controllers elsewhere; here the broker's recovery would be timed, not
# backlogd's.
broker.session.timeout.ms=60000
EOF
}

# Does the broker answer a metadata request (and list itself)?
kafka_answers() {
  port_open "$KAFKA_PORT" || return 1
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "$HOST:$KAFKA_PORT" -L -m 5 2>/dev/null | grep -q "broker 1 at"
  else
    kafka_java org.apache.kafka.tools.ClusterTool cluster-id \
      --bootstrap-server "$HOST:$KAFKA_PORT" >/dev/null 2>&1
  fi
}

# Starts the broker in the background unless it is already running; the
# caller then waits with wait_ready.
launch_kafka() {
  if is_running kafka; then
    kafka_answers || die "kafka is running (pid $(service_pids kafka)) but does not answer; run: $0 stop kafka"
    echo "kafka ready on $HOST:$KAFKA_PORT (already running)"
    return 0
  fi
  rm -f "$RUN_DIR/kafka.pid"
  require_free_port "$KAFKA_PORT" "Kafka broker"
  require_free_port "$CONTROLLER_PORT" "Kafka controller"
  fetch_kafka
  need_cmd java "Java 17 is needed"
  mkdir -p "$RUN_DIR"
  require_free_port "$SASL_PORT" "Kafka SASL_SSL listener"
  require_free_port "$MTLS_PORT" "Kafka mutual-TLS listener"
  rm -rf "$RUN_DIR/kafka-data" "$RUN_DIR/kafka.log" "$RUN_DIR/kafka.out" "$AUTHORIZER_LOG"
  write_server_properties

  make_tls
  write_scram_users_file
  local scram=()
  mapfile -d '' scram < <(scram_format_args)
  if ! kafka_java kafka.tools.StorageTool format --cluster-id "$(random_cluster_id)" \
         --config "$RUN_DIR/server.properties" "${scram[@]}" >"$RUN_DIR/kafka-format.log" 2>&1; then
    show_tail "$RUN_DIR/kafka-format.log"
    die "formatting the KRaft log dir failed"
  fi

  launch kafka "$RUN_DIR/kafka.out" \
    java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      "$(marker kafka)" \
      -Dkafka.logs.dir="$RUN_DIR" \
      -Dlog4j2.configurationFile="$TESTENV_SRC/log4j2-broker.xml" \
      -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$RUN_DIR/server.properties"
}

# ---- Registry ----------------------------------------------------------------
registry_answers() {
  [[ $(http_status "$REGISTRY_PORT" "$REGISTRY_CCOMPAT_PATH/subjects") == 200 ]]
}

launch_registry() {
  if is_running registry; then
    registry_answers || die "registry is running (pid $(service_pids registry)) but does not answer; run: $0 stop registry"
    echo "registry ready on http://$HOST:$REGISTRY_PORT$REGISTRY_CCOMPAT_PATH (already running)"
    return 0
  fi
  rm -f "$RUN_DIR/registry.pid"
  require_free_port "$REGISTRY_PORT" "schema registry"
  fetch_registry
  need_cmd java "Java 17 is needed"
  mkdir -p "$RUN_DIR"
  rm -f "$RUN_DIR/registry.log"

  # Quarkus logs to the console, so stdout is the log file. Storage is the
  # default in-memory H2 (named explicitly here); state is lost on stop.
  # C1-only JIT: boots ~1s faster, and a test registry needs no peak speed.
  launch registry "$RUN_DIR/registry.log" \
    java -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
      "$(marker registry)" \
      -Dquarkus.http.host="$HOST" \
      -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dapicurio.storage.kind=sql \
      -Dapicurio.storage.sql.kind=h2 \
      -Dapicurio.datasource.url=jdbc:h2:mem:registry \
      -Dquarkus.log.level=INFO \
      -Dquarkus.log.console.format='%d{yyyy-MM-dd HH:mm:ss,SSS} %p [%c{3.}] (%t) %m%n' \
      -jar "$(registry_jar "$REGISTRY_HOME")"
}

# ---- start -------------------------------------------------------------------
# Waits until the launched service answers; on death or timeout prints the
# log tail and fails (the EXIT trap then stops what this run launched).
wait_ready() {
  local name=$1 check where logs
  case $name in
    kafka)
      check=kafka_answers where="$HOST:$KAFKA_PORT"
      logs=("$RUN_DIR/kafka.out" "$RUN_DIR/kafka.log") ;;
    registry)
      check=registry_answers where="http://$HOST:$REGISTRY_PORT$REGISTRY_CCOMPAT_PATH"
      logs=("$RUN_DIR/registry.log") ;;
  esac
  while ! "$check"; do
    if ! is_running "$name"; then
      show_tail "${logs[@]}"
      die "$name exited during startup (log: ${logs[-1]})"
    fi
    if ((SECONDS - T0[$name] >= START_TIMEOUT)); then
      show_tail "${logs[@]}"
      die "$name did not answer on $where within ${START_TIMEOUT}s (log: ${logs[-1]})"
    fi
    sleep 0.3
  done
  echo "$name ready on $where"
}

stop_launched_on_failure() {
  local rc=$? t
  ((rc == 0)) && return 0
  for t in "${LAUNCHED[@]}"; do stop_service "$t" >/dev/null || true; done
  exit "$rc"
}

start_services() {
  local t
  # Fetch everything first so that one service is not left running while
  # the other's download fails.
  for t in "$@"; do "fetch_$t"; done
  trap stop_launched_on_failure EXIT
  trap 'exit 130' INT TERM
  # Launch all, then wait for all: the JVMs boot in parallel. The registry
  # (slower to boot) goes first so that it starts while Kafka is formatted.
  for t in registry kafka; do
    if [[ " $* " == *" $t "* ]]; then "launch_$t"; fi
  done
  for t in "$@"; do
    if [[ -n ${T0[$t]:-} ]]; then wait_ready "$t"; fi
  done
  trap - EXIT INT TERM
}

# ---- stop / status -----------------------------------------------------------
# True while $1 exists and is not a zombie (an exited child not yet reaped).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

service_ports() {
  case $1 in
    kafka) echo "$KAFKA_PORT $CONTROLLER_PORT $SASL_PORT $MTLS_PORT" ;;
    registry) echo "$REGISTRY_PORT" ;;
  esac
}

stop_service() {
  local name=$1 pids pid tries port
  pids=$(service_pids "$name")
  if [[ -z $pids ]]; then
    rm -f "$RUN_DIR/$name.pid"
    echo "$name not running"
    return 0
  fi
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for pid in $pids; do
    for ((tries = 0; tries < STOP_TIMEOUT * 5; tries++)); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      log "$name (pid $pid) still alive after ${STOP_TIMEOUT}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((tries = 0; tries < 100; tries++)); do alive "$pid" || break; sleep 0.1; done
    fi
  done
  # A killed JVM can still hold its sockets for a moment after its main
  # thread is gone (while the other threads and memory are torn down).
  for port in $(service_ports "$name"); do
    for ((tries = 0; tries < 100; tries++)); do port_open "$port" || break; sleep 0.1; done
  done
  rm -f "$RUN_DIR/$name.pid"
  echo "$name stopped"
}

status_service() {
  local name=$1 pids
  pids=$(service_pids "$name")
  if [[ -z $pids ]]; then
    echo "$name: stopped"
    return 1
  fi
  local answers=no
  case $name in
    kafka) kafka_answers && answers=yes; echo "$name: running (pid ${pids//$'\n'/ }) on $HOST:$KAFKA_PORT, answering: $answers" ;;
    registry) registry_answers && answers=yes; echo "$name: running (pid ${pids//$'\n'/ }) on http://$HOST:$REGISTRY_PORT$REGISTRY_CCOMPAT_PATH, answering: $answers" ;;
  esac
  [[ $answers == yes ]]
}

# ---- tool --------------------------------------------------------------------
# Script name (as in Kafka's bin/), short class name, fully qualified class.
TOOLS="\
kafka-topics               TopicCommand              org.apache.kafka.tools.TopicCommand
kafka-configs              ConfigCommand             kafka.admin.ConfigCommand
kafka-consumer-groups      ConsumerGroupCommand      org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-share-groups         ShareGroupCommand         org.apache.kafka.tools.consumer.group.ShareGroupCommand
kafka-streams-groups       StreamsGroupCommand       org.apache.kafka.tools.streams.StreamsGroupCommand
kafka-groups               GroupsCommand             org.apache.kafka.tools.GroupsCommand
kafka-console-producer     ConsoleProducer           org.apache.kafka.tools.ConsoleProducer
kafka-console-consumer     ConsoleConsumer           org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-get-offsets          GetOffsetShell            org.apache.kafka.tools.GetOffsetShell
kafka-delete-records       DeleteRecordsCommand      org.apache.kafka.tools.DeleteRecordsCommand
kafka-acls                 AclCommand                org.apache.kafka.tools.AclCommand
kafka-transactions         TransactionsCommand       org.apache.kafka.tools.TransactionsCommand
kafka-leader-election      LeaderElectionCommand     org.apache.kafka.tools.LeaderElectionCommand
kafka-reassign-partitions  ReassignPartitionsCommand org.apache.kafka.tools.reassign.ReassignPartitionsCommand
kafka-log-dirs             LogDirsCommand            org.apache.kafka.tools.LogDirsCommand
kafka-features             FeatureCommand            org.apache.kafka.tools.FeatureCommand
kafka-metadata-quorum      MetadataQuorumCommand     org.apache.kafka.tools.MetadataQuorumCommand
kafka-cluster              ClusterTool               org.apache.kafka.tools.ClusterTool
kafka-broker-api-versions  BrokerApiVersionsCommand  org.apache.kafka.tools.BrokerApiVersionsCommand
kafka-client-metrics       ClientMetricsCommand      org.apache.kafka.tools.ClientMetricsCommand
kafka-storage              StorageTool               kafka.tools.StorageTool
kafka-dump-log             DumpLogSegments           kafka.tools.DumpLogSegments"

tool_class() {
  local want=$1 script short fqcn
  [[ $want == *.* ]] && { echo "$want"; return 0; }
  want=${want%.sh}
  while read -r script short fqcn; do
    if [[ $want == "$script" || $want == "$short" ]]; then echo "$fqcn"; return 0; fi
  done <<<"$TOOLS"
  return 1
}

run_tool() {
  (($# >= 1)) || die "usage: $0 tool <kafka-topics|TopicCommand|fully.qualified.Class> [args...]"
  local cls
  cls=$(tool_class "$1") || die "unknown tool '$1'; known tools:
$(awk '{printf "  %-27s %s\n", $1, $2}' <<<"$TOOLS")
or pass a fully qualified class name"
  shift
  fetch_kafka
  need_cmd java "Java 17 is needed"
  exec java "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_CLASSPATH" "$cls" "$@"
}

# ---- env ---------------------------------------------------------------------
squote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

print_env() {
  echo "export BACKLOGD_TEST_BOOTSTRAP=$(squote "$HOST:$KAFKA_PORT")"
  echo "export BACKLOGD_TEST_REGISTRY=$(squote "http://$HOST:$REGISTRY_PORT$REGISTRY_CCOMPAT_PATH")"
  echo "export KAFKA_CLASSPATH=$(squote "$KAFKA_CLASSPATH")"
  echo "export BACKLOGD_TEST_SASL_BOOTSTRAP=$(squote "$HOST:$SASL_PORT")"
  echo "export BACKLOGD_TEST_MTLS_BOOTSTRAP=$(squote "$HOST:$MTLS_PORT")"
  echo "export BACKLOGD_TEST_TLS_DIR=$(squote "$TLS_DIR")"
  echo "export BACKLOGD_TEST_SCRAM_USERS=$(squote "$SCRAM_USERS_FILE")"
  echo "export BACKLOGD_TEST_AUTHORIZER_LOG=$(squote "$AUTHORIZER_LOG")"
}

# ---- main --------------------------------------------------------------------
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# Sets the global array TARGETS from the optional target argument.
set_targets() {
  (($# <= 1)) || die "expected at most one target, got: $*"
  case ${1:-all} in
    kafka) TARGETS=(kafka) ;;
    registry) TARGETS=(registry) ;;
    all) TARGETS=(kafka registry) ;;
    *) die "unknown target '$1' (expected kafka, registry or all)" ;;
  esac
}

main() {
  local cmd=${1:-}
  (($# > 0)) && shift
  local t rc=0
  case $cmd in
    fetch)
      set_targets "$@"
      for t in "${TARGETS[@]}"; do "fetch_$t"; done
      ;;
    start)
      set_targets "$@"
      start_services "${TARGETS[@]}"
      ;;
    stop)
      set_targets "$@"
      for t in "${TARGETS[@]}"; do stop_service "$t"; done
      ;;
    status)
      set_targets "$@"
      for t in "${TARGETS[@]}"; do status_service "$t" || rc=3; done
      return "$rc"
      ;;
    env) print_env ;;
    tool) run_tool "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

# Sourced (the tests call its functions), it only defines them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
