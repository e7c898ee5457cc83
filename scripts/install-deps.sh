#!/usr/bin/env bash
# Installs the Debian packages backlogd builds and tests with, when missing.
# Runs apt-get only if something is absent, so a second call costs nothing.
# librdkafka is not among them: scripts/librdkafka.sh builds a current release
# into the cache (Debian 12's 2.0.2 cannot log in with SCRAM to Kafka 4); npm
# fetches its source, and the -dev packages of the second line are what it is
# built with (TLS, SASL, OIDC over libcurl, zstd, lz4, zlib). chromium loads the
# status page headless in tests/integration/test_status_page.py. podman, runc and
# debootstrap build and run the container image in the suite (scripts/image.sh;
# the tier skips, saying why, where podman cannot run).
# apt's output goes to $BACKLOGD_CACHE/install-deps.log (default
# ~/.cache/backlogd), shown when a step fails (scripts/quiet.sh).
set -euo pipefail

source "$(dirname "$0")/quiet.sh"

packages=(
  build-essential cmake pkg-config
  libssl-dev libsasl2-dev libzstd-dev liblz4-dev zlib1g-dev npm
  libavro-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev
  kcat valgrind clang libclang-rt-14-dev
  chromium
  openjdk-17-jre-headless maven python3 python3-venv
  podman runc debootstrap
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
# Java and Maven may come from elsewhere than Debian (a JDK in /usr/lib/jvm, a
# Maven on PATH): accept them when the commands work.
command -v java >/dev/null 2>&1 && missing=("${missing[@]/openjdk-17-jre-headless}")
command -v mvn >/dev/null 2>&1 && missing=("${missing[@]/maven}")
command -v npm >/dev/null 2>&1 && missing=("${missing[@]/npm}")
command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null \
  && missing=("${missing[@]/python3-venv}") && missing=("${missing[@]/python3}")
read -r -a missing <<<"${missing[*]:-}"

[ ${#missing[@]} -eq 0 ] && exit 0

cache=${BACKLOGD_CACHE:-$HOME/.cache/backlogd}
log=$cache/install-deps.log
mkdir -p "$cache"
: >"$log"
echo "install-deps: installing ${missing[*]} with apt-get (log: $log)" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
quietly "$log" "${sudo_cmd[@]}" apt-get update -qq
quietly "$log" "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done" >&2
