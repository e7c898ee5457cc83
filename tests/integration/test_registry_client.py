"""backlogd's own registry client (src/contract/registry.c) against the real
Schema Registry (SPEC §2): registry_probe registers, fetches by id and as the
latest version, sets BACKWARD, checks a compatible and an incompatible schema,
and expects NOT_FOUND for an unknown id and subject. It exits 0 only when every
step gave the expected answer.

The registry is the one in BACKLOGD_TEST_REGISTRY; when nothing answers there,
the test starts scripts/testenv.sh's registry and stops it afterwards (one
that was already running is left running)."""
import os
import subprocess
import urllib.parse
import urllib.request

import pytest

from conftest_common import SOURCE_DIR, clean_env
from kafka_tools import REGISTRY, TESTENV

PROBE = os.environ.get("BACKLOGD_REGISTRY_PROBE", str(SOURCE_DIR / "build" / "registry_probe"))
STEPS = ["register v1", "register v1 again gives the same id", "get schema by id",
         "latest is version 1 with that id", "set compatibility BACKWARD", "v2 with a default is compatible",
         "v2 without a default is incompatible", "registering it is refused", "unknown id is not found",
         "latest of an unknown subject is not found"]


def registry_answers():
    try:
        with urllib.request.urlopen(REGISTRY + "/subjects", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def run_testenv(command):
    """Runs scripts/testenv.sh COMMAND registry on the port of BACKLOGD_TEST_REGISTRY."""
    url = urllib.parse.urlsplit(REGISTRY)
    if url.hostname not in ("127.0.0.1", "localhost"):
        pytest.fail(f"no registry answers at {REGISTRY}, and testenv.sh only starts one on 127.0.0.1")
    env = {**os.environ, "BACKLOGD_TESTENV_REGISTRY_PORT": str(url.port or 80)}
    return subprocess.run([TESTENV, command, "registry"], env=env, check=command == "start", timeout=300)


@pytest.fixture(scope="module")
def registry():
    started = not registry_answers()
    if started:
        run_testenv("start")
    yield REGISTRY
    if started:
        run_testenv("stop")


def run_probe(url):
    result = subprocess.run([PROBE, url], capture_output=True, text=True, env=clean_env(), timeout=120)
    return result, result.stdout + result.stderr


@pytest.mark.parametrize("suffix", ["", "/"], ids=["base", "base-with-slash"])
def test_probe_passes_every_step(registry, suffix):
    result, output = run_probe(registry + suffix)
    assert result.returncode == 0, output
    for step in STEPS:
        assert f"ok   {step}" in output, output


def test_unknown_id_is_not_found_with_the_registry_error_code(registry):
    result, output = run_probe(registry)
    line = next(line for line in output.splitlines() if "unknown id is not found" in line)
    assert "BL_ERR_NOT_FOUND" in line and "HTTP 404" in line and "40403" in line, output


def test_probe_refuses_credentials_in_the_url(registry):
    url = registry.replace("://", "://probe:hunter2@", 1)
    result, output = run_probe(url)
    assert result.returncode == 2, output
    assert "registry.username and registry.password" in output
    assert "hunter2" not in output
