#!/usr/bin/env bash
# Makes (once) the Python virtual environment the test tiers run in, and
# prints the path of its python. The environment lives in the cache directory
# under a name that carries the hash of tests/requirements.txt, so a change of
# requirements makes a new one beside the old instead of pulling the old one
# out from under a run that uses it. It is built in place (console scripts
# name their interpreter's path) under a lock, and marked complete last, so a
# concurrent run waits for it rather than using half of it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${BACKLOGD_CACHE:-$HOME/.cache/backlogd}
requirements="$repo/tests/requirements.txt"
venv="$cache/venv-$(sha256sum "$requirements" | cut -c1-12)"

mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "python-env: preparing $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
