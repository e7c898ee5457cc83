#!/usr/bin/env bash
# Installs (once) the two validators of the deployment files that no Python package
# carries, into the cache directory, and prints the directory that holds them.
# tests/cli/test_deploy.py calls it; the other validators (kubernetes-validate,
# check-jsonschema, docker-compose, hadolint, ...) come with tests/requirements.txt.
#
#   kustomize  sigs.k8s.io/kustomize/kustomize/v5, built from the Go module proxy with
#              `go install` (about a minute the first time)
#   promtool   Prometheus' rule checker, taken out of Debian's prometheus package with
#              `apt-get download` and `dpkg-deb -x`: nothing is installed or started
#
# Environment: BACKLOGD_CACHE [$HOME/.cache/backlogd]. A second call costs nothing.
set -euo pipefail

KUSTOMIZE_VERSION=v5.7.1

cache=${BACKLOGD_CACHE:-${HOME:?HOME is not set}/.cache/backlogd}
tools="$cache/tools"
bin="$tools/bin"
mkdir -p "$bin"

# Two test runs (the ASan and the normal build) may ask at once: one installs.
exec 9>"$tools/.lock"
flock 9

log() { echo "deploy-tools: $*" >&2; }

if ! [ -x "$bin/kustomize" ] || [ "$("$bin/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { log "error: go is needed to build kustomize"; exit 1; }
  log "building kustomize $KUSTOMIZE_VERSION into $bin"
  GOBIN="$bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
fi

if ! [ -x "$bin/promtool" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt-get download writes as the _apt user where it can
  trap 'rm -rf "$tmp"' EXIT
  log "fetching promtool from Debian's prometheus package"
  if ! (cd "$tmp" && apt-get download prometheus >&2); then
    # A machine whose package lists were never fetched: fetch them, then try again.
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq >&2
    (cd "$tmp" && apt-get download prometheus >&2)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$bin/promtool"
  "$bin/promtool" --version 2>&1 | head -n 1 >&2
fi

echo "$bin"
