#!/usr/bin/env bash
# Makes (once) the Python virtual environment the test tiers run in, and
# prints the path of its python. The environment lives in the cache directory
# and is rebuilt when tests/requirements.txt changes.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${BACKLOGD_CACHE:-$HOME/.cache/backlogd}
venv="$cache/venv"
requirements="$repo/tests/requirements.txt"
stamp="$venv/requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "python-env: preparing $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
