"""backlogd on the secured listeners of the test broker with exactly the ACLs
docs/security.md lists, parsed from the doc's shell blocks (so the doc and the
test cannot drift) and renamed to this run's topic prefix and group id
(secure.TestNames):

- the topic Job (User:topicjob) runs `backlogd topics create`, the policy
  publisher (User:publisher) `backlogd policy publish`, backlogd's principal
  `backlogd run` with policy.name, the producer (User:producer) `backlogd
  produce`, all with SCRAM-SHA-512 over SASL_SSL and passwords full of quotes and
  backslashes passed in BACKLOGD_KAFKA_SASL_PASSWORD; a worker (User:worker, CN
  of its client certificate, mutual TLS) consumes dispatch.model_inference in
  its group and writes COMPLETED results; an auditor (User:auditor) runs
  `backlogd inspect` and `backlogd audit`. Every task ends COMPLETED.
- Then the authorizer's log: no principal was denied anything, and every ACL
  the doc lists allowed at least one request (the broker names the ACL behind
  each decision), so an ACL that is missing fails the run and one that nothing
  needs fails the check, by name.
"""
import json
import time

from confluent_kafka import Consumer, KafkaError, Producer

from conftest_common import SOURCE_DIR, backlogd
from kafka_tools import unique_prefix
from pipeline import Backlogd
from records import decode, encode_event, result, wait_for_all, wait_for_states
import secure

DOMAIN = "model_inference"
TASKS = 6
POLICY = SOURCE_DIR / "config" / "policy.json"
DENIED = (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED)
USERS = ("backlogd", "topicjob", "producer", "publisher", "auditor", "operator")
# Principals of the doc's blocks that this test does not run, and why.
NOT_RUN = {"User:keda": "KEDA's scaler is not part of the suite; its Describe ACLs are what the Kafka scaler's "
                        "offset and metadata requests need, as KEDA documents"}


def test_every_job_runs_with_exactly_the_documented_acls(tmp_path):
    prefix = unique_prefix("sec")
    names = secure.TestNames(prefix, prefix + "group")
    acls = {principal: [names.acl(a) for a in bindings] for principal, bindings in secure.doc_acls().items()}
    assert set(acls) == {f"User:{u}" for u in USERS} | {"User:worker"} | set(NOT_RUN)
    everything = [a for bindings in acls.values() for a in bindings]
    secure.create_acls(everything)
    start = secure.log_offset()
    checked = set(acls) - set(NOT_RUN)
    try:
        try:
            run_every_job(tmp_path, prefix, names)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{denial_report(secure.read_decisions(start), checked, prefix)}") \
                from failure
        decisions = secure.read_decisions(start)
    finally:
        secure.delete_acls(everything)

    decisions = [d for d in decisions if not expected_denial(d, prefix)]
    assert not secure.denied(decisions, checked), denial_report(decisions, checked, prefix)
    never = secure.unused([a for a in everything if a.principal in checked], decisions)
    assert not never, "listed in docs/security.md, never used:\n" + "\n".join(str(a) for a in never)


def expected_denial(decision, prefix):
    """The one denial the test provokes: the producer's attempt to approve (separation of duties)."""
    return (not decision.allowed and decision.principal == "User:producer"
            and decision.name == prefix + "tasks.control")


def denial_report(decisions, principals, prefix):
    """The distinct denials, without this run's prefix (what the doc would have to add)."""
    lines = sorted({str(d).replace(prefix, "") for d in secure.denied(decisions, principals)})
    return "denied:\n" + "\n".join(lines) if lines else "nothing denied"


def run_every_job(tmp_path, prefix, names):
    """Each job as its own principal: topics, policy, run (restarted once, to restore), produce, a worker over
    mutual TLS, inspect, audit, replay, dlq list and redrive."""
    settings = dict(topics={"prefix": prefix, "partitions": 2}, group_id=names.group_id, instance_id="i1",
                    policy={"name": "platform"})
    env = {user: secure.backlogd_env(secure.sasl_config(tmp_path / f"{user}.json", user, **settings), user)
           for user in USERS}

    def job(user, *args, stdin=None):
        done = backlogd(*args, env=env[user], input=stdin)
        assert done.returncode == 0, f"{user}: backlogd {' '.join(map(str, args))}:\n{done.stdout}{done.stderr}"
        return done

    job("topicjob", "topics", "create")
    policy = json.loads(POLICY.read_text())
    policy["defaults"]["worker_group"] = prefix + policy["defaults"]["worker_group"]
    for section in policy["domains"].values():
        if "worker_group" in section:
            section["worker_group"] = prefix + section["worker_group"]
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    job("publisher", "policy", "publish", tmp_path / "policy.json")

    run = Backlogd(env["backlogd"])
    try:
        tasks = [{"task_id": f"s{i}", "event_type": "SUBMITTED", "task_type": "t", "domain": DOMAIN,
                  "business_value": 0.5, "risk": 0.1, "depends_on": [f"s{i - 1}"] if i == 1 else []}
                 for i in range(TASKS)]
        job("producer", "produce", stdin="".join(json.dumps(t) + "\n" for t in tasks))
        poison = dict(tasks[0], task_id="poison", domain="nowhere")
        job("producer", "produce", "--no-validate", stdin=json.dumps(poison) + "\n")
        # Decisions go to tasks.control, which the operator may write and the producer may not. s1 waits for s0,
        # which no worker completes yet: an UPDATED for it is legal whenever it comes (s2 could be DISPATCHED).
        wait_for_states(prefix, {"s1": "BLOCKED"})
        job("operator", "prioritize", "s1", "--business-value", "0.9", "--reason", "customer escalation")
        refused = backlogd("approve", "s3", "--reason", "self-approval", env=env["producer"])
        assert refused.returncode != 0 and "uthoriz" in refused.stderr, refused.stderr
        work(prefix, names.name("Group", f"{DOMAIN}-workers"), TASKS, run)
        items = wait_for_all(prefix, TASKS, state="COMPLETED", timeout=60)
        assert sorted(i["state"] for i in items.values()) == ["COMPLETED"] * TASKS
        run.wait_for(r"-> .*backlog\.dlq", count=2)
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])

    run = Backlogd(env["backlogd"])
    try:
        run.wait_for(r"snapshots")
        job("auditor", "inspect")
        job("auditor", "audit", "s1")
        job("auditor", "replay", "--verify")
        listed = job("operator", "dlq", "list")
        assert "poison" in listed.stdout and "ghost" in listed.stdout
        job("operator", "dlq", "redrive", "--all")
    finally:
        code, _ = run.stop()
    assert code == 0, "\n".join(run.lines[-20:])


def work(prefix, group, expected, run, timeout=45):
    """A worker of DOMAIN over mutual TLS: reads its dispatches in its group, writes COMPLETED for each, and one
    result for a task nobody submitted (a dead letter from tasks.results). Gives up when `run` has exited."""
    consumer = Consumer({**secure.mtls_client("worker"), "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    producer = Producer(secure.mtls_client("worker"))
    consumer.subscribe([prefix + "dispatch." + DOMAIN])
    producer.produce(prefix + "tasks.results", key="ghost", value=encode_event(result("ghost", "COMPLETED", 1)))
    done, deadline = set(), time.monotonic() + timeout
    try:
        while len(done) < expected and time.monotonic() < deadline:
            if run.process.poll() is not None:
                raise AssertionError("backlogd run exited:\n" + "\n".join(run.lines[-10:]))
            message = consumer.poll(0.5)
            if message is not None and message.error() and message.error().code() in DENIED:
                raise AssertionError(f"the worker: {message.error()}")
            if message is None or message.error():
                continue
            dispatch = decode(message.value())
            event = result(dispatch["task_id"], "COMPLETED", dispatch["attempt"])
            producer.produce(prefix + "tasks.results", key=dispatch["task_id"], value=encode_event(event))
            assert producer.flush(30) == 0
            consumer.commit(message, asynchronous=False)
            done.add(dispatch["task_id"])
    finally:
        consumer.close()
    assert len(done) == expected, f"the worker completed {sorted(done)}"
