#!/usr/bin/env bash
# image.sh — the container image (Dockerfile) built and proven on this machine with
# podman, where no image registry is reachable (SPEC §10; docs/operations.md,
# "Building and proving the image"; `make test` runs it as integration.image).
#
#   scripts/image.sh check   exit 0 when podman can build and run images here; otherwise say why, exit 3
#   scripts/image.sh base    the Dockerfile's base images, made with debootstrap (reused once tagged)
#   scripts/image.sh build   base, then the image, tagged backlogd:src-<hash> (reused once tagged); prints the tag
#   scripts/image.sh demo    `backlogd demo` in the image; its summary checked
#   scripts/image.sh run     `backlogd run` in the image against the broker BACKLOGD_TEST_BOOTSTRAP
#                            names: topics created, tasks produced, each one dispatched, a clean stop
#   scripts/image.sh prove   build, demo and run; with no BACKLOGD_TEST_BOOTSTRAP, a test broker of
#                            its own (scripts/testenv.sh, stopped at the end)
#   scripts/image.sh clean   remove the images this script tagged, the base images included
#
# The bases: every image the Dockerfile's FROM lines name (their ARG defaults,
# debian:12 and debian:12-slim), made from one `debootstrap --variant=minbase
# bookworm` from the Debian mirror this machine's apt uses (`apt-get indextargets`;
# BACKLOGD_IMAGE_MIRROR overrides it), with the apt sources this machine has
# (bookworm, bookworm-updates, bookworm-security) and their updates installed,
# apt's lists and caches emptied, the host's resolv.conf and hostname left out;
# -slim also leaves out documentation, manuals and translations as Debian's own
# slim images do. Each is imported with `podman import` under exactly the name the
# Dockerfile gives, so `FROM debian:12` finds it locally; a tag already present is
# reused whoever made it.
#
# The image: `podman build` with --pull=never, the host's network (apt reaches
# Debian's mirror), the docker format (HEALTHCHECK kept), and librdkafka's source
# archive from the cache (scripts/librdkafka.sh fetch, checksum verified) as the
# named build context that replaces the Dockerfile's npm stage. Its tag is a hash of
# the base images' ids and of every file that goes into the image (Dockerfile,
# .dockerignore, CMakeLists.txt, cmake/, src/, schemas/, config/,
# scripts/librdkafka.sh): an unchanged tree reuses the image without building, and
# podman's layer cache keeps a changed one to the steps after `COPY . .`. The newest
# build is also tagged backlogd:local (docker-compose.yml's name). Debian's packages
# come from the mirror at build time: the hash does not pin them.
#
# Podman 4.3 on these machines: rootful, runc (crun fails on hybrid cgroups),
# cgroupfs, the host's network for the broker, and ulimits within the host's hard
# limits (podman's defaults are refused). docs/operations.md has the measurements.
#
# Environment (defaults in brackets):
#   BACKLOGD_CACHE                [$HOME/.cache/backlogd]  librdkafka's archive; image.log
#   BACKLOGD_IMAGE_NAME           [backlogd]               the image's repository name
#   BACKLOGD_IMAGE_MIRROR         [from apt]               the Debian mirror for debootstrap
#   BACKLOGD_IMAGE_DEMO_SECONDS   [10]                     the demo's --duration
#   BACKLOGD_TEST_BOOTSTRAP       [unset]                  the broker for `run` (127.0.0.1:PORT)
#   BACKLOGD_TESTENV_KAFKA_PORT   [19092]                  the broker `prove` starts when unset
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/quiet.sh
source "$REPO/scripts/quiet.sh"

NAME=${BACKLOGD_IMAGE_NAME:-backlogd}
CACHE=$(realpath -m "${BACKLOGD_CACHE:-${HOME:?HOME is not set}/.cache/backlogd}")
LOG=$CACHE/image.log
DEMO_SECONDS=${BACKLOGD_IMAGE_DEMO_SECONDS:-10}
RELEASE=bookworm
BASES_MADE=(debian:12 debian:12-slim) # what this script can make
# The files whose content makes the image (the rest of the context is not compiled into it).
IMAGE_INPUTS=(Dockerfile .dockerignore CMakeLists.txt cmake src schemas config scripts/librdkafka.sh)
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)

log() { echo "image: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# At exit: the container of `run` removed, the broker `prove` started stopped, the
# scratch directory (made in main before any $(...) subshell uses it) removed.
WORK=
CONTAINER=
STARTED_BROKER=0
on_exit() {
  [[ -z $CONTAINER ]] || "${PODMAN[@]}" rm -f "$CONTAINER" >/dev/null 2>&1 || true
  ((STARTED_BROKER == 0)) || "$REPO/scripts/testenv.sh" stop kafka >&2 || true
  [[ -z $WORK ]] || rm -rf "$WORK"
}
trap on_exit EXIT
work_dir() { echo "${WORK:?no scratch directory}"; }

# ---- podman on this machine --------------------------------------------------
# ulimits at or below the host's hard limits: nofile up to 65536, nproc up to 4096.
limit() { # hard limit, ceiling
  if [[ $1 == unlimited || $1 -gt $2 ]]; then echo "$2"; else echo "$1"; fi
}
NOFILE=$(limit "$(ulimit -Hn)" 65536)
NPROC=$(limit "$(ulimit -Hu)" 4096)
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")

# Why podman cannot build and run the image here, one line; nothing when it can.
why_not() {
  local cmd
  [[ $(id -u) -eq 0 ]] || { echo "not root (debootstrap and rootful podman need root; rootless podman is not set up here)"; return; }
  for cmd in podman debootstrap runc; do
    command -v "$cmd" >/dev/null 2>&1 ||
      { echo "no $cmd on PATH (Debian package $cmd; scripts/install-deps.sh installs it)"; return; }
  done
  local info
  info=$("${PODMAN[@]}" info --format '{{.Store.GraphDriverName}}' 2>&1) ||
    { echo "podman cannot run here: $(echo "$info" | tail -n 1)"; return; }
  if ! bases_present; then
    local mirror
    mirror=$(debian_mirror) || { echo "no Debian mirror in this machine's apt sources (set BACKLOGD_IMAGE_MIRROR)"; return; }
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20)' \
      "$mirror/dists/$RELEASE/Release" 2>/dev/null ||
      { echo "the base images are not made yet and Debian's mirror $mirror does not answer"; return; }
  fi
}

image_exists() { "${PODMAN[@]}" image exists "$1"; }
image_id() { "${PODMAN[@]}" image inspect --format '{{.Id}}' "$1" | cut -c1-12; }
image_size() { "${PODMAN[@]}" image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'; }

# ---- the base images ---------------------------------------------------------
# Every image the Dockerfile's FROM lines name, their ${ARG}s replaced by the ARG
# defaults, stage names left out; each once.
dockerfile_bases() {
  local keyword image as alias arg
  local -A args=() stages=() seen=()
  while read -r keyword image as alias; do
    case ${keyword^^} in
      ARG)
        [[ $image == *=* ]] && args[${image%%=*}]=${image#*=}
        ;;
      FROM)
        for arg in "${!args[@]}"; do
          image=${image//"\${$arg}"/${args[$arg]}}
        done
        if [[ -z ${stages[$image]:-} && -z ${seen[$image]:-} ]]; then
          seen[$image]=1
          echo "$image"
        fi
        [[ ${as^^} == AS && -n $alias ]] && stages[$alias]=1
        ;;
    esac
  done < <(grep -E '^[[:space:]]*(ARG|FROM)[[:space:]]' "$REPO/Dockerfile")
}

bases_present() {
  local base
  for base in $(dockerfile_bases); do image_exists "$base" || return 1; done
}

# "URI SUITE" for each Debian archive this machine's apt reads, e.g.
# "http://deb.debian.org/debian bookworm-updates"; only $RELEASE's suites.
apt_suites() {
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk -v r="$RELEASE" '$2 ~ "^" r "(-updates|-security)?$" { sub("/$", "", $1); print $1, $2 }' | sort -u
}

debian_mirror() {
  if [[ -n ${BACKLOGD_IMAGE_MIRROR:-} ]]; then echo "${BACKLOGD_IMAGE_MIRROR%/}"; return; fi
  apt_suites | awk -v r="$RELEASE" '$2 == r { print $1; found = 1; exit } END { exit !found }'
}

# The base's apt sources, as Debian's own images write them (deb822): the mirror
# with $RELEASE and -updates, and the security archive this machine uses.
write_sources() { # rootfs, mirror
  local rootfs=$1 mirror=$2 uri suites
  rm -f "$rootfs/etc/apt/sources.list"
  {
    echo "Types: deb"
    echo "URIs: $mirror"
    echo "Suites: $RELEASE $RELEASE-updates"
    echo "Components: main"
    echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    while read -r uri suites; do
      [[ $suites == "$RELEASE-security" ]] || continue
      printf '\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$suites"
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    done < <(apt_suites)
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
}

# debootstrap installs the release as its point release has it: the updates and
# security fixes since come from the sources written above, as in Debian's images.
upgrade() { # rootfs
  quietly "$LOG" chroot "$1" apt-get update >&2 &&
    quietly "$LOG" env DEBIAN_FRONTEND=noninteractive chroot "$1" apt-get -y dist-upgrade >&2
}

# What Debian's images do after debootstrap: no package lists or caches in the
# image, apt never keeps a downloaded .deb, no translations of the lists, and
# nothing of the machine that made it (its resolver and host name: the container
# runtime supplies both).
tidy() { # rootfs
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb
  : >"$1/etc/resolv.conf"
  rm -f "$1/etc/hostname"
  cat >"$1/etc/apt/apt.conf.d/docker-clean" <<'EOF'
// No .deb is kept after installing (as in Debian's images): installs in an image layer stay small.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$1/etc/apt/apt.conf.d/docker-no-languages"
}

# -slim: documentation (copyrights kept), manuals, info pages and translations
# removed, and dpkg told to leave them out of every package installed later.
slim() { # rootfs
  cat >"$1/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As in Debian's -slim images: no documentation (copyrights kept), manuals or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$1"/usr/share/{groff,info,linda,locale,man}/* "$1"/usr/share/lintian/overrides/*
}

import_base() { # rootfs, tag, mirror
  log "importing $2"
  tar --numeric-owner -C "$1" -c . |
    "${PODMAN[@]}" import --quiet --change 'CMD ["bash"]' \
      --change "LABEL org.backlogd.base=\"debootstrap --variant=minbase $RELEASE $3\"" - "$2" >>"$LOG"
  log "base $2: made, $(image_size "$2") ($(image_id "$2"))"
}

# One build at a time on a machine (a second waits): the bases and the image are shared.
lock() {
  exec 8>"$CACHE/image.lock"
  flock 8
}

make_bases() {
  local base missing=() unknown=()
  lock
  for base in $(dockerfile_bases); do
    if image_exists "$base"; then
      log "base $base: reused ($(image_id "$base"))"
    elif [[ " ${BASES_MADE[*]} " == *" $base "* ]]; then
      missing+=("$base")
    else
      unknown+=("$base")
    fi
  done
  [[ ${#unknown[@]} -eq 0 ]] || die "the Dockerfile names ${unknown[*]}: this script makes ${BASES_MADE[*]} only"
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local mirror rootfs started
  mirror=$(debian_mirror) || die "no Debian $RELEASE mirror in this machine's apt sources (set BACKLOGD_IMAGE_MIRROR)"
  rootfs=$(work_dir)/rootfs
  started=$SECONDS
  log "debootstrap --variant=minbase $RELEASE from $mirror (log: $LOG)"
  quietly "$LOG" debootstrap --variant=minbase "$RELEASE" "$rootfs" "$mirror" >&2 ||
    die "debootstrap failed (log: $LOG)"
  write_sources "$rootfs" "$mirror"
  upgrade "$rootfs" || die "apt-get dist-upgrade in the new base failed (log: $LOG)"
  tidy "$rootfs"
  # The full base first, then the same tree slimmed.
  [[ " ${missing[*]} " == *" debian:12 "* ]] && import_base "$rootfs" debian:12 "$mirror"
  if [[ " ${missing[*]} " == *" debian:12-slim "* ]]; then
    slim "$rootfs"
    import_base "$rootfs" debian:12-slim "$mirror"
  fi
  log "bases made in $((SECONDS - started)) s"
}

# ---- the image ---------------------------------------------------------------
# 12 hex digits over the base images' ids and the content of IMAGE_INPUTS.
source_hash() {
  local base
  {
    for base in $(dockerfile_bases); do echo "$base $("${PODMAN[@]}" image inspect --format '{{.Id}}' "$base")"; done
    (cd "$REPO" && find "${IMAGE_INPUTS[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-12
}

build_image() {
  lock
  make_bases
  local tag started context archive
  tag=localhost/$NAME:src-$(source_hash)
  if image_exists "$tag"; then
    log "image $tag: reused, $(image_size "$tag")"
  else
    # librdkafka's archive, checksum verified, as the named context that replaces the npm stage.
    "$REPO/scripts/librdkafka.sh" fetch
    archive=$(sed -n 's/^CARRIER_FILE=//p' "$REPO/scripts/librdkafka.sh")
    context=$(work_dir)/librdkafka-source
    mkdir -p "$context/librdkafka"
    cp "$CACHE/$archive" "$context/librdkafka/"
    started=$SECONDS
    log "building $tag with podman (log: $LOG)"
    quietly "$LOG" "${PODMAN[@]}" build --pull=never --network host --format docker --layers \
      "${ULIMITS[@]}" --build-context "librdkafka-source=$context" \
      --tag "$tag" --file "$REPO/Dockerfile" "$REPO" >&2 || die "podman build failed (log: $LOG)"
    log "image $tag: built in $((SECONDS - started)) s, $(image_size "$tag")"
    forget_older_builds "$tag"
  fi
  "${PODMAN[@]}" tag "$tag" "localhost/$NAME:local"
  echo "$tag"
}

# Older src-<hash> tags are removed, so that repeated builds do not pile up images.
forget_older_builds() { # the tag to keep
  local other
  for other in $("${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' --filter "reference=localhost/$NAME:src-*"); do
    [[ $other == "$1" ]] || "${PODMAN[@]}" untag "$other" "$other" >>"$LOG" 2>&1 || true
  done
}

# ---- the demo in the image ---------------------------------------------------
# `backlogd demo` (librdkafka's mock cluster in the process) with no network at all,
# a read-only root filesystem and the image's own non-root user.
prove_demo() { # tag
  local tag=$1 out started
  out=$(work_dir)/demo
  mkdir -p "$out"
  log "$tag: backlogd demo --duration $DEMO_SECONDS (no network, read-only root)"
  started=$SECONDS
  "${PODMAN[@]}" run --rm --network none --read-only --no-healthcheck "${ULIMITS[@]}" "$tag" \
    demo --duration "$DEMO_SECONDS" --seed 1 --json >"$out/summary.json" 2>"$out/stderr" ||
    { tail -n 20 "$out/stderr" >&2; die "backlogd demo in the image failed"; }
  python3 - "$out/summary.json" "$DEMO_SECONDS" "$((SECONDS - started))" <<'EOF' || die "the demo's summary is wrong (above)"
import json, sys
summary, duration, elapsed = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
problems = []
if summary["pipeline_status"] != 0 or summary["interrupted"]:
    problems.append(f"pipeline_status {summary['pipeline_status']}, interrupted {summary['interrupted']}")
for name, domain in summary["domains"].items():
    if domain["dispatched"] == 0 or domain["completed"] == 0:
        problems.append(f"{name}: {domain['dispatched']} dispatched, {domain['completed']} completed")
for reason, sent in summary["events"]["poison_pills"].items():
    if summary["dlq"].get(reason) != sent:
        problems.append(f"{sent} poison pills {reason}, {summary['dlq'].get(reason)} in backlog.dlq")
txn = summary["transactions"]
if txn["committed"] == 0 or txn["aborted"] != 0:
    problems.append(f"transactions: {txn['committed']} committed, {txn['aborted']} aborted")
for problem in problems:
    print(f"image: demo: {problem}", file=sys.stderr)
print(f"image: demo: {summary['events']['submitted']} tasks submitted, {summary['dispatched']} dispatched "
      f"in {len(summary['domains'])} domains, {summary['completed']} completed, "
      f"{sum(summary['events']['poison_pills'].values())} poison pills dead-lettered, "
      f"{txn['committed']} transactions; {elapsed} s for --duration {duration}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}

# ---- `backlogd run` in the image against a real broker -----------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Topics made by the image's `topics create`, tasks published by its `produce`, a
# detached `run` (the image's own CMD and configuration, healthy by the
# Dockerfile's HEALTHCHECK) dispatching every one of them, as the image's `tasks
# list` reads back from backlog.state, then SIGTERM and exit status 0.
prove_run() { # tag
  local tag=$1 bootstrap=${BACKLOGD_TEST_BOOTSTRAP:-} prefix port env domains domain i tasks count deadline status
  local started=$SECONDS
  [[ -n $bootstrap ]] || die "run: no broker: set BACKLOGD_TEST_BOOTSTRAP (scripts/testenv.sh env), or use prove"
  prefix=image$(date +%s)$((RANDOM % 1000)).
  port=$(free_port)
  env=(-e "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=$bootstrap" -e "BACKLOGD_TOPICS_PREFIX=$prefix"
       -e BACKLOGD_TOPICS_PARTITIONS=3 -e "BACKLOGD_GROUP_ID=${prefix}backlogd" -e BACKLOGD_INSTANCE_ID=image)
  # One-shot commands: the HEALTHCHECK is for `run` alone (--no-healthcheck).
  local -a in_image=("${PODMAN[@]}" run --rm --network host --read-only --no-healthcheck "${ULIMITS[@]}" "${env[@]}")

  log "$tag: backlogd topics create (prefix $prefix, broker $bootstrap)"
  "${in_image[@]}" -e BACKLOGD_HTTP_PORT=0 "$tag" topics create >>"$LOG" 2>&1 ||
    die "topics create in the image failed (log: $LOG)"

  CONTAINER=backlogd-image-$$
  log "$tag: backlogd run (container $CONTAINER, HTTP port $port)"
  # The HEALTHCHECK is run by hand below. Podman's timer for it needs systemd: where systemd is
  # absent, run and stop complain that they cannot reach it (into the log; harmless).
  "${PODMAN[@]}" run -d --name "$CONTAINER" --network host --read-only "${ULIMITS[@]}" "${env[@]}" \
    -e "BACKLOGD_HTTP_PORT=$port" "$tag" >>"$LOG" 2>&1 || die "podman run failed (log: $LOG)"
  deadline=$((SECONDS + 90))
  until "${PODMAN[@]}" healthcheck run "$CONTAINER" >/dev/null 2>&1; do
    [[ $("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$CONTAINER") == true ]] ||
      { "${PODMAN[@]}" logs "$CONTAINER" 2>&1 | tail -n 20 >&2; die "backlogd run stopped in the image"; }
    ((SECONDS < deadline)) || die "backlogd run in the image never became healthy (HEALTHCHECK)"
    sleep 1
  done
  log "$tag: healthy (the Dockerfile's HEALTHCHECK passes)"

  tasks=8
  read -r -a domains < <(python3 -c 'import json, sys; print(*json.load(open(sys.argv[1]))["domains"])' \
                           "$REPO/config/backlogd.json")
  for ((i = 1; i <= tasks; i++)); do
    domain=${domains[(i - 1) % ${#domains[@]}]}
    printf '{"task_id": "%simage-%d", "event_type": "SUBMITTED", "task_type": "image_check", "domain": "%s", "business_value": 0.5, "risk": 0.1}\n' \
      "$prefix" "$i" "$domain"
  done | "${in_image[@]}" -i -e BACKLOGD_HTTP_PORT=0 "$tag" produce >>"$LOG" 2>&1 ||
    die "produce in the image failed (log: $LOG)"
  log "$tag: $tasks tasks produced over the domains ${domains[*]}"

  deadline=$((SECONDS + 60))
  while :; do
    count=$("${in_image[@]}" -e BACKLOGD_HTTP_PORT=0 "$tag" tasks list --state DISPATCHED --json 2>>"$LOG" |
              python3 -c 'import json, sys; print(sum(t["task_id"].startswith(sys.argv[1]) for t in json.load(sys.stdin)["tasks"]))' "$prefix") ||
      count=0
    ((count == tasks)) && break
    ((SECONDS < deadline)) || die "$count of $tasks tasks DISPATCHED after 60 s (log: $LOG)"
    sleep 2
  done
  log "$tag: all $tasks tasks DISPATCHED (backlogd tasks list, read from backlog.state)"

  "${PODMAN[@]}" stop --time 30 "$CONTAINER" >>"$LOG" 2>&1
  status=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$CONTAINER")
  "${PODMAN[@]}" logs "$CONTAINER" >>"$LOG" 2>&1
  [[ $status == 0 ]] || die "backlogd run exited $status on SIGTERM (log: $LOG)"
  log "$tag: stopped by SIGTERM, exit status 0 ($((SECONDS - started)) s from topics create)"
  echo "$prefix"
}

# ---- prove: all of it, with a broker of its own when none is given ----------
prove() {
  local tag started=$SECONDS
  tag=$(build_image)
  prove_demo "$tag"
  if [[ -z ${BACKLOGD_TEST_BOOTSTRAP:-} ]]; then
    # A broker already running on that port is used and left running.
    if ! "$REPO/scripts/testenv.sh" status kafka >/dev/null 2>&1; then
      STARTED_BROKER=1
      "$REPO/scripts/testenv.sh" start kafka >&2
    fi
    eval "$("$REPO/scripts/testenv.sh" env)"
    export BACKLOGD_TEST_BOOTSTRAP
  fi
  prove_run "$tag" >/dev/null
  log "$tag: proven in $((SECONDS - started)) s"
}

clean() {
  local image
  for image in $("${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' --filter "reference=localhost/$NAME"); do
    "${PODMAN[@]}" untag "$image" "$image" && log "removed the tag $image"
  done
  for image in "${BASES_MADE[@]}"; do
    if image_exists "$image" && [[ -n $("${PODMAN[@]}" image inspect --format '{{index .Labels "org.backlogd.base"}}' "$image") ]]; then
      "${PODMAN[@]}" untag "$image" "localhost/$image" && log "removed the base $image"
    fi
  done
  log "the layers no tag needs any more stay in podman's storage: podman image prune frees them"
}

# ---- main --------------------------------------------------------------------
command=${1:-}
case $command in
  check | base | build | demo | run | prove) ;;
  clean) clean; exit 0 ;;
  *) usage ;;
esac
reason=$(why_not)
if [[ -n $reason ]]; then
  log "podman cannot build and run the image here: $reason"
  exit 3
fi
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/backlogd-image-XXXXXX")
case $command in
  check) log "podman can build and run the image here (runc, cgroupfs, nofile $NOFILE, nproc $NPROC)" ;;
  base) make_bases ;;
  build) build_image ;;
  demo) prove_demo "$(build_image)" ;;
  run) prove_run "$(build_image)" ;;
  prove) prove ;;
esac
