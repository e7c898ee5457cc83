"""The status page at `/` (SPEC §15) loaded by a real browser: Debian's chromium, headless.

Once on the demo (librdkafka's mock cluster in the process: every domain busy, one
throttled, tasks awaiting approval) and once on `backlogd run` against the real broker:
the page loads with no console message at all (it runs no script, so any message is an
error: a refused asset, a CSP violation), names every domain, and draws each of the four
plots with one line per domain. A PNG screenshot of each is kept under the build
directory (test-artifacts/), for a person to look at. The page is read-only: POST is
refused. Skips, saying why, where chromium is not installed (scripts/install-deps.sh
installs it)."""
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest_common import BACKLOGD, backlogd, clean_env
from kafka_tools import unique_prefix
from pipeline import Backlogd
from records import task_event
from test_backlog import create_topics, environment, submit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("BACKLOGD_ARTIFACTS_DIR", Path(BACKLOGD).resolve().parent / "test-artifacts"))
PLOTS = ["plot-ready", "plot-in-flight", "plot-dispatch-rate", "plot-lag"]
DEMO_DOMAINS = ["data_preparation", "model_inference", "evaluation", "remediation"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-deps.sh "
                                                          "installs Debian's chromium)")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium(*args, timeout=90):
    """Headless chromium on its own throw-away profile; returns (stdout, the console messages it logged)."""
    profile = ARTIFACTS / f"chromium-profile-{os.getpid()}-{time.monotonic_ns()}"
    try:
        result = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                 "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                                 "--enable-logging=stderr", "--v=0", *args],
                                capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    failed = [line for line in result.stderr.splitlines() if "Page load failed" in line]
    assert not failed, failed
    return result, console


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def check_page_in_chromium(url, domains, screenshot):
    """Loads `url` twice (the DOM, then a screenshot); checks every domain and plot; returns the DOM."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result, console = chromium("--virtual-time-budget=2000", "--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert console == [], console
    dom = result.stdout
    assert "<script" not in dom and "src=\"http" not in dom
    for domain in domains:
        assert f'<tr data-domain="{domain}">' in dom and f'<tr data-flow="{domain}">' in dom, f"no rows for {domain}"
    for plot in PLOTS:
        svg = re.search(rf'<svg id="{plot}".*?</svg>', dom, re.S)
        assert svg, f"no {plot}"
        for domain in domains:
            line = re.search(rf'<g class="line" data-domain="{domain}".*?</g>', svg.group(0), re.S)
            assert line and "<polyline points=" in line.group(0), f"{plot}: no line for {domain}"
    shot = ARTIFACTS / screenshot
    shot.unlink(missing_ok=True)
    result, console = chromium("--window-size=1400,1900", f"--screenshot={shot}", url)
    assert console == [], console
    assert shot.exists(), result.stderr[-2000:]
    assert png_size(shot) == (1400, 1900)
    assert shot.stat().st_size > 20000, "a screenshot of an empty page"
    return dom


def read_only(url):
    request = urllib.request.Request(url, data=b"approve=t1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405


def test_demo_status_page_in_chromium():
    port = free_port()
    demo = subprocess.Popen([BACKLOGD, "demo", "--duration", "25", "--seed", "7", "--http-port", str(port)],
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 40
        while not any("status page on" in line for line in lines):
            assert demo.poll() is None and time.monotonic() < deadline, "".join(lines[-20:])
            time.sleep(0.2)
        address = re.search(r"status page on (http://\S+/)", next(l for l in lines if "status page on" in l))
        assert address and address.group(1) == f"http://127.0.0.1:{port}/"
        time.sleep(12)  # a dozen samples for the plots, and model_inference throttled
        dom = check_page_in_chromium(address.group(1), DEMO_DOMAINS, "status_page_demo.png")
        assert "throttled" in dom and "Awaiting approval" in dom and "Dead letters by reason" in dom
        # the demo's agent governs model_inference: its row shows the agent's breaker and last consultation
        flow = re.search(r'<tr data-flow="model_inference">.*?</tr>', dom, re.S).group(0)
        assert re.search(r"breaker (closed|open|half_open), (last \w+ \d+ s ago|none finished yet)", flow), flow
        read_only(address.group(1))
    finally:
        out, _ = demo.communicate(timeout=90)
    assert demo.returncode == 0, "".join(lines[-20:])
    assert "dispatched" in out, out  # the summary, as without the page


def test_run_status_page_in_chromium(tmp_path):
    prefix = unique_prefix("status")
    port = free_port()
    env = environment(prefix, BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    create_topics(env)
    submit(prefix, *[task_event(f"s-{i}", domain=domain) for i, domain in
                     enumerate(["evaluation", "model_inference"] * 10)])
    run = Backlogd(env)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = response.read().decode()
                if '<tr data-domain="evaluation">' in page and "transactions" in page and ">ready<" in page:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "\n".join(run.lines[-30:])
            time.sleep(0.5)
        # a DISPATCHED task cancelled: its worker is told, and the page counts the notice
        cancelled = backlogd("cancel", "s-0", "--by", "frank", "--reason", "not needed", env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        while "<span>cancellation notices sent: 1</span>" not in page:
            assert time.monotonic() < deadline, "\n".join(run.lines[-30:])
            time.sleep(0.5)
            with urllib.request.urlopen(url, timeout=5) as response:
                page = response.read().decode()
        time.sleep(3)  # a few samples
        configured = re.findall(r'<tr data-domain="([^"]+)">', page)
        assert {"evaluation", "model_inference"} <= set(configured), configured
        dom = check_page_in_chromium(url, configured, "status_page_run.png")
        assert re.search(r'<tr data-domain="evaluation">.*?</tr>', dom, re.S)
        read_only(url)
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
