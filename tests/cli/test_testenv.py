"""scripts/testenv.sh's own helpers, sourced into bash (sourcing defines its
functions and runs nothing): the KRaft cluster id it formats the broker with."""
import base64
import re
import subprocess

from conftest_common import SOURCE_DIR

TESTENV = SOURCE_DIR / "scripts" / "testenv.sh"
UUID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}")


def cluster_ids(tmp_path, count):
    """`count` ids from random_cluster_id; /dev/urandom's first 16 bytes are 0xF8 and zeros, whose
    base64url text begins with '-' (kafka-storage took such an id for an option, issue 14)."""
    first = tmp_path / "first-draw-done"
    script = f"""
source "{TESTENV}"
head() {{
  if [[ ! -e "{first}" ]]; then : >"{first}"; printf '\\370'; command head -c15 /dev/zero
  else command head "$@"; fi
}}
for ((i = 0; i < {count}; i++)); do printf "%s\\n" "$(random_cluster_id)"; done
"""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert first.exists(), "the forced draw was never made"
    return result.stdout.split("\n")[:-1]


def test_cluster_id_never_begins_with_a_dash(tmp_path):
    ids = cluster_ids(tmp_path, 200)
    assert len(ids) == 200 and len(set(ids)) == 200
    for cluster_id in ids:
        assert UUID.fullmatch(cluster_id), cluster_id
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, cluster_id
