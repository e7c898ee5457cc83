#!/usr/bin/env bash
# Makes (once) the Python virtual environment the test tiers run in, and
# prints the path of its python. The environment lives in the cache directory
# under a name that carries the hash of tests/requirements.txt, so a change of
# requirements makes a new one beside the old instead of pulling the old one
# out from under a run that uses it. It is built under a temporary name and
# renamed into place only when complete (the tests run `python -m pytest`,
# which a moved environment still serves).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${BACKLOGD_CACHE:-$HOME/.cache/backlogd}
requirements="$repo/tests/requirements.txt"
venv="$cache/venv-$(sha256sum "$requirements" | cut -c1-12)"

if [ ! -x "$venv/bin/python" ]; then
  echo "python-env: preparing $venv" >&2
  mkdir -p "$cache"
  building="$venv.building.$$"
  trap 'rm -rf "$building"' EXIT
  python3 -m venv "$building"
  "$building/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
  mv -T "$building" "$venv" 2>/dev/null || true # another run finished one first: use theirs
fi
echo "$venv/bin/python"
