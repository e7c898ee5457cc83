"""Helpers shared by the Python test tiers (tests/cli, tests/integration).

Both tiers run the backlogd binary that ctest names in BACKLOGD_BIN, from the
source tree in BACKLOGD_SOURCE_DIR; run directly, they fall back to build/.
"""
import json
import os
import subprocess
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("BACKLOGD_SOURCE_DIR", Path(__file__).resolve().parent.parent))
BACKLOGD = os.environ.get("BACKLOGD_BIN", str(SOURCE_DIR / "build" / "backlogd"))
FIXTURES = SOURCE_DIR / "tests" / "fixtures"


def clean_env(**overrides):
    """The environment without any BACKLOGD_ setting of the caller's, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLOGD_")}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def backlogd(*args, env=None, timeout=120, input=None):
    """Runs backlogd and returns the CompletedProcess (text mode)."""
    return subprocess.run([BACKLOGD, *map(str, args)], capture_output=True, text=True,
                          env=env if env is not None else clean_env(), timeout=timeout, input=input)


def backlogd_json(*args, **kwargs):
    result = backlogd(*args, **kwargs)
    return result, json.loads(result.stdout) if result.stdout.strip() else None
