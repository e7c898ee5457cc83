"""Demo workers for docker-compose.yml: what a domain's workers do with backlogd.

For each configured domain, one consumer in that domain's worker group (the policy's
worker_group, e.g. data-prep-workers; its lag is what throttles the domain) reads
dispatch.<domain> read_committed, decodes each DispatchDecision with its writer schema
from the Schema Registry, reports STARTED, "works" for a while, and reports COMPLETED
or, now and then, a retryable FAILED to tasks.results: TaskEvents of the newest
contract version (schemas/task_event/vN.avsc), keyed by task_id and partitioned with
murmur2 like backlogd's own producer, so that a result lands on its task's partition.
The offset is committed after the result is sent: at-least-once, and dispatch_id is
the idempotency key. One domain (DEMO_SLOW_DOMAIN) works slowly, so that its lag
reaches the policy's max_lag and backpressure holds its dispatch there.

Environment: BOOTSTRAP_SERVERS, REGISTRY_URL, DOMAINS (comma-separated), POLICY_FILE
(optional; worker groups default to "<domain>-workers"), SCHEMAS_DIR, TOPIC_PREFIX,
DEMO_SLOW_DOMAIN, DEMO_FAIL_RATE (0..1). SIGTERM leaves the groups and exits 0.
"""
import json
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

WORKER = "demo-worker"


def log(message, **fields):
    print(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "msg": message, **fields}),
          flush=True)


def worker_groups(policy, domains):
    """{domain: consumer group} as backlogd reads them from the policy: the domain's
    worker_group, else the defaults', else "{domain}-workers"; {domain} is replaced."""
    policy = policy or {}
    default = (policy.get("defaults") or {}).get("worker_group", "{domain}-workers")
    sections = policy.get("domains") or {}
    return {domain: (sections.get(domain) or {}).get("worker_group", default).replace("{domain}", domain)
            for domain in domains}


def newest_task_event_schema(schemas_dir):
    """The text of the newest TaskEvent version, schemas/task_event/vN.avsc."""
    versions = {int(m.group(1)): path for path in Path(schemas_dir, "task_event").glob("v*.avsc")
                if (m := re.fullmatch(r"v(\d+)\.avsc", path.name))}
    if not versions:
        raise SystemExit(f"{WORKER}: no schemas/task_event/vN.avsc under {schemas_dir}")
    return versions[max(versions)].read_text()


def result_event(decision, event_type, error=None, now_ms=None):
    """A worker's TaskEvent (v2 fields) answering one DispatchDecision."""
    return {
        "event_id": str(uuid.uuid4()),
        "task_id": decision["task_id"],
        "event_type": event_type,
        "occurred_at": now_ms if now_ms is not None else int(time.time() * 1000),
        "producer": f"{WORKER}-{decision['domain']}",
        "tenant": decision.get("tenant"),
        "sla_class": "standard",
        "task_type": None,
        "domain": None,
        "business_value": None,
        "risk": None,
        "deadline": None,
        "not_before": None,
        "data_ready_at": None,
        "depends_on": [],
        "max_attempts": None,
        "labels": {},
        "payload": None,
        "attempt": decision["attempt"],
        "dispatch_id": decision["dispatch_id"],
        "error": error,
    }


def work_seconds(domain, slow_domain):
    return random.uniform(2.0, 5.0) if domain == slow_domain else random.uniform(0.05, 0.3)


def run_domain(domain, group, settings, producer, serializer, deserializer, stop):
    from confluent_kafka import Consumer
    from confluent_kafka.serialization import MessageField, SerializationContext

    topic = settings["prefix"] + "dispatch." + domain
    results = settings["prefix"] + "tasks.results"
    consumer = Consumer({"bootstrap.servers": settings["bootstrap"], "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    log("consuming", domain=domain, topic=topic, group=group)

    def send(decision, event_type, error=None):
        event = result_event(decision, event_type, error)
        value = serializer(event, SerializationContext(results, MessageField.VALUE))
        producer.produce(results, key=decision["task_id"].encode(), value=value)
        producer.poll(0)

    try:
        while not stop.is_set():
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                log("consumer error", domain=domain, error=str(message.error()))
                continue
            decision = deserializer(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
            send(decision, "STARTED")
            time.sleep(work_seconds(domain, settings["slow_domain"]))
            if random.random() < settings["fail_rate"]:
                send(decision, "FAILED", {"code": "demo.flaky", "message": "simulated failure", "retryable": True})
                outcome = "FAILED"
            else:
                send(decision, "COMPLETED")
                outcome = "COMPLETED"
            producer.flush(10)
            consumer.commit(message=message, asynchronous=False)
            log(outcome.lower(), domain=domain, dispatch_id=decision["dispatch_id"],
                policy=f"{decision['policy_name']}@{decision['policy_version']}", score=round(decision["score"], 3))
    finally:
        consumer.close()  # leaves the group at once


def main():
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

    domains = [d for d in os.environ.get("DOMAINS", "").split(",") if d]
    if not domains:
        raise SystemExit(f"{WORKER}: DOMAINS is empty")
    policy_file = os.environ.get("POLICY_FILE", "")
    policy = json.loads(Path(policy_file).read_text()) if policy_file else None
    settings = {
        "bootstrap": os.environ.get("BOOTSTRAP_SERVERS", "kafka:9092"),
        "prefix": os.environ.get("TOPIC_PREFIX", ""),
        "slow_domain": os.environ.get("DEMO_SLOW_DOMAIN", ""),
        "fail_rate": float(os.environ.get("DEMO_FAIL_RATE", "0.05")),
    }
    registry = SchemaRegistryClient({"url": os.environ.get("REGISTRY_URL", "http://registry:8080/apis/ccompat/v7")})
    serializer = AvroSerializer(registry, newest_task_event_schema(os.environ.get("SCHEMAS_DIR", "/schemas")),
                                conf={"auto.register.schemas": True})
    deserializer = AvroDeserializer(registry)
    producer = Producer({"bootstrap.servers": settings["bootstrap"], "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 5})

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threads = [threading.Thread(target=run_domain, name=domain, daemon=True,
                                args=(domain, group, settings, producer, serializer, deserializer, stop))
               for domain, group in worker_groups(policy, domains).items()]
    for thread in threads:
        thread.start()
    # A domain whose loop failed (a broker or the registry away for too long) ends the
    # process: compose restarts it, and the uncommitted decision is read again.
    while not stop.is_set() and all(t.is_alive() for t in threads):
        stop.wait(1)
    failed = not stop.is_set()
    stop.set()
    for thread in threads:
        thread.join(15)
    producer.flush(10)
    log("stopped", failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
