"""The HTTP endpoint of `backlogd run` under slow clients, without a broker.

The instance is pointed at a port where no broker listens, so it stays alive
(its heartbeat fresh) while it tries to reach the cluster; that is all the
HTTP side needs. Each slow client sends a request one header line every 2 s
and never finishes it, and connects again when it is cut off (an attacker
would). The probe comes from another loopback address (127.0.0.2), as the
kubelet's comes from the node, not from the client that floods the port.

Measured on the 2-core test machine (libmicrohttpd 0.9.75): before the
limits, 80 such clients kept /healthz unanswered for 40 s; with them every
probe was answered, the slowest in about 0.1 s while one address held its
share, and in under 1.5 s (http.connection_max_ms) while clients from ten
addresses filled every connection.
"""
import http.client
import socket
import subprocess
import threading
import time

from conftest_common import BACKLOGD, SOURCE_DIR, clean_env

PROBE_ADDRESS = "127.0.0.2"
CONNECTION_MAX_MS = 1500


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Instance:
    """`backlogd run` with no broker to reach: alive, never ready, its HTTP endpoint up."""

    def __init__(self, **settings):
        self.port = free_port()
        env = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
                        BACKLOGD_HTTP_ADDRESS="127.0.0.1", BACKLOGD_HTTP_PORT=self.port,
                        BACKLOGD_ADMIN_TIMEOUT_MS=120000, BACKLOGD_HTTP_HEALTHZ_STALE_MS=600000,
                        BACKLOGD_SHUTDOWN_GRACE_MS=1000,
                        BACKLOGD_SCHEMAS_DIR=SOURCE_DIR / "schemas", **settings)
        self.process = subprocess.Popen([BACKLOGD, "run"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while probe(self.port, "GET", "/healthz", timeout=1)[0] is None:
            assert self.process.poll() is None, self.process.stderr.read()
            assert time.monotonic() < deadline, "the HTTP endpoint did not come up"
            time.sleep(0.1)

    def stop(self):
        """Stops the instance; returns its log lines."""
        self.process.terminate()
        try:
            _, log = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, log = self.process.communicate()
        return log.splitlines()


def probe(port, method, path, timeout=5.0, source=PROBE_ADDRESS):
    """(status, headers, body, seconds) of one request from @source; status None when it failed."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read()
        return response.status, dict(response.getheaders()), body, time.monotonic() - started
    except OSError:
        return None, {}, b"", time.monotonic() - started
    finally:
        connection.close()


class SlowClient(threading.Thread):
    """Connects from @address and sends a request's header lines, one every 2 s, forever; connects again
    when cut off. Keeps how long each of its connections lasted."""

    def __init__(self, port, address, stop):
        super().__init__(daemon=True)
        self.port, self.address, self.stop = port, address, stop
        self.lifetimes = []

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2,
                                              source_address=(self.address, 0)) as connection:
                    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    line = 0
                    while not self.stop.is_set():
                        try:
                            if connection.recv(1024) == b"":
                                break  # the server closed it
                        except socket.timeout:
                            line += 1
                            connection.sendall(b"X-Slow-%d: still here\r\n" % line)
                self.lifetimes.append(time.monotonic() - started)
            except OSError:
                self.lifetimes.append(time.monotonic() - started)
            self.stop.wait(0.2)


def flood(port, addresses, count, seconds):
    """Runs @count slow clients spread over @addresses for @seconds while probing /healthz from another
    address every 0.5 s; returns the probes and the clients."""
    stop = threading.Event()
    clients = [SlowClient(port, addresses[i % len(addresses)], stop) for i in range(count)]
    for client in clients:
        client.start()
    time.sleep(1)  # every client connected, or refused
    probes = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probes.append(probe(port, "GET", "/healthz"))
        time.sleep(0.5)
    stop.set()
    for client in clients:
        client.join(timeout=10)
    return probes, clients


def warnings(log):
    return [line for line in log if '"level":"warn"' in line and '"module":"http"' in line]


def test_slow_clients_cannot_hold_healthz():
    instance = Instance(BACKLOGD_HTTP_CONNECTION_MAX_MS=CONNECTION_MAX_MS)
    try:
        # 80 clients from one address: it gets its 8 connections, the others are refused at once.
        probes, clients = flood(instance.port, ["127.0.0.1"], 80, seconds=8)
        assert all(status == 200 for status, _, _, _ in probes), probes
        one_address_slowest = max(seconds for _, _, _, seconds in probes)
        assert one_address_slowest < 1.0, probes

        # 80 clients from ten addresses, 8 each, fill every connection (64): a probe waits for the first
        # one cut off after http.connection_max_ms.
        addresses = [f"127.0.0.{10 + i}" for i in range(10)]
        probes, clients = flood(instance.port, addresses, 80, seconds=8)
        assert all(status == 200 for status, _, _, _ in probes), probes
        many_addresses_slowest = max(seconds for _, _, _, seconds in probes)
        assert many_addresses_slowest < 2.0, probes
        longest = max(max(client.lifetimes) for client in clients if client.lifetimes)
        assert longest < CONNECTION_MAX_MS / 1000 + 4, f"a slow connection lasted {longest:.1f} s"
    finally:
        log = instance.stop()
    print(f"slowest probe: {one_address_slowest:.2f} s (one address), {many_addresses_slowest:.2f} s (ten)")
    print("\n".join(warnings(log)))
    # Hundreds of connections refused and cut in 16 s: at most one warning per 10 s, and the count at exit.
    assert 1 <= len(warnings(log)) <= 4, warnings(log)
    assert any("not logged" in line for line in warnings(log)), warnings(log)


def test_head_answers_status_and_headers_without_a_body():
    instance = Instance()
    try:
        for path, status in [("/healthz", 200), ("/readyz", 503), ("/metrics", 200), ("/", 200), ("/nothing", 404)]:
            got, headers, body, _ = probe(instance.port, "HEAD", path, source="127.0.0.1")
            get_status, get_headers, get_body, _ = probe(instance.port, "GET", path, source="127.0.0.1")
            assert (got, get_status) == (status, status), path
            assert body == b"", path
            assert headers["Content-Type"] == get_headers["Content-Type"], path
            if path not in ("/metrics", "/"):  # the metrics and the status page change between the two requests
                assert int(headers["Content-Length"]) == len(get_body), path
        status, headers, _, _ = probe(instance.port, "DELETE", "/healthz", source="127.0.0.1")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    finally:
        instance.stop()
