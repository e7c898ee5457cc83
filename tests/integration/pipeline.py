"""Running `backlogd run` under test: start it, watch its JSON log lines, stop
it with SIGTERM and read its final counts; and the Kafka clients (Python's
confluent-kafka, not ours) that feed it and read what it wrote."""
import json
import queue
import re
import signal
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer

from conftest_common import BACKLOGD
from kafka_tools import BOOTSTRAP


class Backlogd:
    """One `backlogd run` process whose stderr is collected line by line."""

    def __init__(self, env, *args):
        self.lines = []
        self._new = queue.Queue()
        self.process = subprocess.Popen([BACKLOGD, "run", *args], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            self._new.put(None)

    def messages(self, pattern=""):
        found = []
        for line in list(self.lines):
            try:
                message = json.loads(line)["msg"]
            except (ValueError, KeyError):
                message = line
            if re.search(pattern, message):
                found.append(message)
        return found

    def wait_for(self, pattern, count=1, timeout=60):
        """Waits until `count` log messages match `pattern`; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(pattern)
            if len(found) >= count:
                return found
            if self.process.poll() is not None and self._new.empty():
                break
            try:
                self._new.get(timeout=0.2)
            except queue.Empty:
                pass
        raise AssertionError(f"waited for {count} x /{pattern}/, saw {len(self.messages(pattern))}; log:\n"
                             + "\n".join(self.lines[-40:]))

    def stop(self, timeout=30):
        """SIGTERM, then the final counts: {"consumed": n, "handed_on": n, ...}."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        final = self.messages(r"^stopped(:| on a fatal error:)")
        counts = dict((k, int(v)) for k, v in re.findall(r"([\w.]+)=(\d+)", final[-1])) if final else {}
        return code, counts

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def produce_raw(topic, records, config=None):
    """Publishes (key, value, headers) tuples as they are, keyed like Java producers do."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "partitioner": "murmur2_random", **(config or {})})
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0


def consume_all(topic, expected, timeout=30, isolation="read_committed"):
    """Reads `topic` from the beginning until `expected` records arrived; returns them."""
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"reader-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": isolation})
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                records.append(message)
        # A little longer, to see records that should not be there.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                records.append(message)
    finally:
        consumer.close()
    return records
