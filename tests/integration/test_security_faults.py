"""What an instance does when the broker refuses it something docs/security.md lists
(issue 13), on the secured test broker with the doc's ACLs less the one under test:

- DescribeConfigs on backlog.state taken away: `run` refuses to start naming the
  refusal, the operation and the topic, never "cleanup.policy=" (a denial read as an
  empty setting, as before).
- Write on backlog.dlq taken away while `run` keeps running, first on an idle instance
  with a record that must be dead-lettered (it used to exit at once), then with good
  tasks behind it: the instance names the cause, stays up, /healthz answers 200 saying
  what it waits for, backlogd_output_blocked shows the topic, it backs off (a bounded
  number of aborted batches), the tasks in the other partitions go on, and once the
  ACL is back everything goes on by itself with nothing lost.
- Write on one domain's dispatch topic taken away: that domain's tasks wait READY while
  the other domain is dispatched; back with the ACL.
"""
import json
import re
import time

from conftest_common import SOURCE_DIR, backlogd
from kafka_tools import unique_prefix
from pipeline import Backlogd, consume_all
from records import read_state, wait_for_all
from test_health import gauge
from test_operate import free_port, get
import secure

POLICY = SOURCE_DIR / "config" / "policy.json"
BACKOFF_MAX_MS = 2000


def setting_up(tmp_path, name):
    """A prefix, the doc's ACLs renamed to it, the topics made by the topic Job, and the environments of the
    topic Job, backlogd (with its HTTP port) and the producer."""
    prefix = unique_prefix(name)
    names = secure.TestNames(prefix, prefix + "group")
    acls = {p: [names.acl(a) for a in bindings] for p, bindings in secure.doc_acls().items()}
    policy = json.loads(POLICY.read_text())
    policy["defaults"]["worker_group"] = prefix + policy["defaults"]["worker_group"]
    for section in policy["domains"].values():
        if "worker_group" in section:
            section["worker_group"] = prefix + section["worker_group"]
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    settings = dict(topics={"prefix": prefix, "partitions": 2}, group_id=names.group_id, instance_id="i1",
                    policy={"file": str(tmp_path / "policy.json")},
                    ingest={"retry_backoff_ms": 100, "retry_backoff_max_ms": BACKOFF_MAX_MS})
    port = free_port()
    env = {user: secure.backlogd_env(secure.sasl_config(tmp_path / f"{user}.json", user, **settings), user)
           for user in ("topicjob", "producer")}
    env["backlogd"] = secure.backlogd_env(secure.sasl_config(tmp_path / "backlogd.json", "backlogd", **settings),
                                          "backlogd", BACKLOGD_HTTP_PORT=port, BACKLOGD_HTTP_ADDRESS="127.0.0.1")
    return prefix, acls, env, port


def job(env, *args, stdin=None):
    done = backlogd(*args, env=env, input=stdin)
    assert done.returncode == 0, f"backlogd {' '.join(map(str, args))}:\n{done.stdout}{done.stderr}"
    return done


def submit(env, tasks, validate=True):
    lines = "".join(json.dumps(t) + "\n" for t in tasks)
    job(env, "produce", *([] if validate else ["--no-validate"]), stdin=lines)


def task(task_id, domain="model_inference"):
    return {"task_id": task_id, "event_type": "SUBMITTED", "task_type": "t", "domain": domain,
            "business_value": 0.5, "risk": 0.1}


def blocked(port, topic):
    _, text = get(port, "/metrics")
    match = re.search(rf'^backlogd_output_blocked{{topic="{re.escape(topic)}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


def test_refused_describe_configs_is_named(tmp_path):
    prefix, acls, env, _ = setting_up(tmp_path, "deny")
    everything = [a for bindings in acls.values() for a in bindings]
    taken = secure.select(acls["User:backlogd"], "DescribeConfigs", "Topic", prefix + "backlog.state")
    assert len(taken) == 1
    secure.create_acls(a for a in everything if a not in taken)
    try:
        job(env["topicjob"], "topics", "create")
        run = Backlogd(env["backlogd"])
        code = run.process.wait(timeout=60)
        run.stop()
    finally:
        secure.delete_acls(everything)
    log = "\n".join(run.messages())
    assert code != 0
    assert (f"topic {prefix}backlog.state cannot be checked: the broker denies this principal DescribeConfigs on it "
            f"(grant DescribeConfigs on topic {prefix}backlog.state") in log, log
    assert "cleanup.policy=" not in log, log


def test_refused_outputs_hold_back_only_what_needs_them(tmp_path):
    prefix, acls, env, port = setting_up(tmp_path, "refuse")
    everything = [a for bindings in acls.values() for a in bindings]
    secure.create_acls(everything)
    dlq = prefix + "backlog.dlq"
    dlq_write = secure.select(acls["User:backlogd"], "Write", "Topic", dlq)
    dispatch_write = secure.select(acls["User:backlogd"], "Write", "Topic", prefix + "dispatch.")
    assert len(dlq_write) == 1 and len(dispatch_write) == 1
    run = None
    try:
        job(env["topicjob"], "topics", "create")
        run = Backlogd(env["backlogd"])
        run.wait_for("snapshots")

        # Idle, then a record that must go to the DLQ, which backlogd may no longer write.
        secure.delete_acls(dlq_write)
        submit(env["producer"], [dict(task("poison"), domain="nowhere")], validate=False)
        run.wait_for(rf"^cannot write to topic {re.escape(dlq)} \(.*authorization", timeout=30)
        time.sleep(3)
        assert run.process.poll() is None, "\n".join(run.lines[-20:])
        status, body = get(port, "/healthz")
        assert status == 200 and body.startswith(f"ok, waiting: topic {dlq} refuses writes since"), body
        assert blocked(port, dlq) == 1

        # Good tasks behind it: those of the other partition go on meanwhile.
        submit(env["producer"], [task(f"t{i}") for i in range(20)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dispatched = [k for k, v in read_state(prefix, timeout=2).items() if v["state"] == "DISPATCHED"]
            if dispatched:
                break
        assert dispatched, "no task went on while the DLQ was refused"
        blocked_since = time.monotonic()
        aborts_before = len(run.messages(r"^batch aborted"))
        time.sleep(10)
        aborts = len(run.messages(r"^batch aborted")) - aborts_before
        # a try every back-off (at most 2 s here): a bound, not a loop
        assert aborts <= (time.monotonic() - blocked_since) / (BACKOFF_MAX_MS / 1000) + 2, aborts
        assert run.process.poll() is None

        # The ACL comes back: the letter is written, every task goes on, nothing is lost.
        secure.create_acls(dlq_write)
        run.wait_for(rf"^topic {re.escape(dlq)} is written again after", timeout=30)
        items = wait_for_all(prefix, 20, timeout=60)
        assert sorted(items) == sorted(f"t{i}" for i in range(20))
        assert all(v["state"] == "DISPATCHED" for v in items.values())
        letters = consume_all(dlq, expected=1)
        assert [m.key() for m in letters] == [b"poison"]
        assert blocked(port, dlq) == 0
        assert get(port, "/healthz") == (200, "ok\n")

        # One domain's dispatch topic refused: its tasks wait READY, the other domain's are dispatched.
        secure.delete_acls(dispatch_write)
        others = [secure.Acl("User:backlogd", "Topic", prefix + "dispatch.evaluation", "literal", "Write")]
        secure.create_acls(others)
        submit(env["producer"], [task(f"m{i}") for i in range(5)] + [task(f"e{i}", "evaluation") for i in range(5)])
        run.wait_for(rf"^cannot write to topic {re.escape(prefix)}dispatch\.model_inference ", timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = read_state(prefix, timeout=2)
            if all(state.get(f"e{i}", {}).get("state") == "DISPATCHED" for i in range(5)):
                break
        assert all(state[f"e{i}"]["state"] == "DISPATCHED" for i in range(5)), state
        assert all(state[f"m{i}"]["state"] == "READY" for i in range(5)), state
        secure.create_acls(dispatch_write)
        run.wait_for(rf"^topic {re.escape(prefix)}dispatch\.model_inference is written again", timeout=30)
        items = wait_for_all(prefix, 30, timeout=60)
        assert all(v["state"] == "DISPATCHED" for v in items.values())
        secure.delete_acls(others)
    finally:
        if run is not None:
            code, _ = run.stop()
        secure.delete_acls(everything)
    assert code == 0, "\n".join(run.lines[-20:])


def test_refused_login_stops_at_once_without_the_password(tmp_path):
    """A wrong SCRAM password is refused for good: the command says so at once (not after admin.timeout_ms)
    and never prints the password, quotes, backslash and newline included."""
    config = secure.sasl_config(tmp_path / "wrong.json", "backlogd", topics={"prefix": unique_prefix("login")})
    password = 'Zq"9\\Wv\nK3Zk'
    env = secure.backlogd_env(config, BACKLOGD_KAFKA_SASL_PASSWORD=password, BACKLOGD_ADMIN_TIMEOUT_MS=30000)
    started = time.monotonic()
    done = backlogd("topics", "create", "--dry-run", env=env)
    assert done.returncode != 0
    assert time.monotonic() - started < 10
    assert "Authentication failed during authentication due to invalid credentials with SASL mechanism " \
           "SCRAM-SHA-512" in done.stderr, done.stderr
    for part in ('Zq"9', "\\Wv", "K3Zk"):
        assert part not in done.stdout + done.stderr
