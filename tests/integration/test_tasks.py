"""`backlogd tasks list` and `tasks show` against what `backlogd run` really wrote
to the broker under a policy file: tasks BLOCKED for approval, for a dependency
(named, with the dependency's own state), for a not_before (with its end),
RETRY_WAIT on a back-off, DISPATCHED and RUNNING on their workers, COMPLETED
and CANCELLED, across two tenants and three domains. Every filter (state,
domain, tenant, each reason to wait, --limit) selects exactly the tasks the
drive left there; breaker and agent are accepted and match nothing, saying why;
--json has its documented shape; show gives the state, the waits, the score
under the policy with a rationale that adds up, and the last transitions, or
exit 1 for a task that is not there."""
import json
import time
import uuid

from conftest_common import backlogd, backlogd_json
from kafka_tools import broker_env, unique_prefix
from pipeline import Backlogd, produce_raw
from records import encode_event, read_state, result, task_event

PARTITIONS = 3
HOUR_MS = 3_600_000

POLICY = {
    "name": "ops", "version": "7",
    "weights": {"business_value": 2.0, "risk": -0.5, "sla_urgency": 1.0, "aging": 5.0, "retry_penalty": -0.5},
    "defaults": {"retry_base_ms": 600000, "retry_cap_ms": 600000, "max_attempts": 3,
                 "approval_risk_threshold": 0.8},
}

# What the drive leaves in backlog.state, and what each task waits for.
FINAL = {
    "k-approve": ("BLOCKED", ["approval"]),
    "k-up": ("BLOCKED", ["not_before"]),
    "k-after": ("BLOCKED", ["dependency"]),
    "k-later": ("BLOCKED", ["not_before", "approval"]),
    "k-retry": ("RETRY_WAIT", ["retry"]),
    "k-sent": ("DISPATCHED", ["worker"]),
    "k-busy": ("RUNNING", ["worker"]),
    "k-done": ("COMPLETED", []),
    "k-gone": ("CANCELLED", []),
}
TENANTS = {"k-approve": "acme", "k-after": "acme", "k-busy": "acme", "k-done": "acme"}
DOMAINS = {"k-approve": "evaluation", "k-up": "data_preparation", "k-after": "evaluation",
           "k-later": "remediation", "k-gone": "remediation"}


def send(topic, *events):
    produce_raw(topic, [(event["task_id"], encode_event(event), None) for event in events])


def wait_for_states(prefix, timeout=90):
    expected = {task: state for task, (state, _) in FINAL.items()}
    deadline = time.monotonic() + timeout
    while True:
        seen = {task: item["state"] for task, item in read_state(prefix, timeout=2).items() if not item["placeholder"]}
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"backlog.state holds {seen}, expected {expected}"
        time.sleep(0.5)


def drive(prefix, env):
    later = int(time.time() * 1000) + HOUR_MS
    submit = []
    for task, (state, _) in FINAL.items():
        fields = {"domain": DOMAINS.get(task, "model_inference"), "tenant": TENANTS.get(task, "globex")}
        if task == "k-approve":
            fields.update(risk=0.95)
        if task == "k-up":
            fields.update(not_before=later)
        if task == "k-after":
            fields.update(depends_on=["k-up"], business_value=0.9)
        if task == "k-later":
            fields.update(not_before=later, risk=0.85)
        if task == "k-gone":
            fields.update(not_before=later)
        submit.append(task_event(task, **fields))
    send(prefix + "tasks.events", *submit)
    run = Backlogd(env)
    try:
        deadline = time.monotonic() + 60
        while True:
            state = read_state(prefix, timeout=2)
            if all(state.get(t, {}).get("state") == "DISPATCHED" for t in ("k-retry", "k-sent", "k-busy", "k-done")):
                break
            assert time.monotonic() < deadline, {t: i["state"] for t, i in state.items()}
            time.sleep(0.5)
        send(prefix + "tasks.results", result("k-busy", "STARTED", 1), result("k-done", "STARTED", 1),
             result("k-done", "COMPLETED", 1),
             result("k-retry", "FAILED", 1, error={"code": "oom", "message": "out of memory", "retryable": True}))
        send(prefix + "tasks.events", task_event("k-gone", "CANCELLED"))
        wait_for_states(prefix)
    finally:
        code, final = run.stop()
    assert code == 0, "\n".join(run.lines[-30:])
    return final


def show(env, *args):
    result, out = backlogd_json("tasks", "show", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return out


def listed(env, *args):
    result, out = backlogd_json("tasks", "list", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return out, {task["task_id"]: task for task in out["tasks"]}


def test_tasks_list_and_show_against_what_run_wrote(tmp_path):
    prefix = unique_prefix("tasks")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    env = broker_env(prefix, BACKLOGD_TOPICS_PARTITIONS=PARTITIONS, BACKLOGD_GROUP_ID=prefix + "group",
                     BACKLOGD_INSTANCE_ID=f"{prefix}i-{uuid.uuid4().hex[:6]}", BACKLOGD_BACKLOG_LEASE_MS=900000,
                     BACKLOGD_POLICY_FILE=str(policy))
    created = backlogd("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    drive(prefix, env)

    # ---- everything, and its shape
    out, tasks = listed(env)
    assert out["topic"] == prefix + "backlog.state"
    assert out["matched"] == out["shown"] == len(FINAL) and out["unreadable"] == 0
    assert out["filters"] == {"state": None, "domain": None, "tenant": None, "waiting_for": None, "limit": None}
    assert set(tasks) == set(FINAL), "placeholders are not listed; every task is"
    for task, (state, reasons) in FINAL.items():
        row = tasks[task]
        assert row["state"] == state, (task, row)
        assert [w["reason"] for w in row["waiting_for"]] == reasons, (task, row["waiting_for"])
        assert row["domain"] == DOMAINS.get(task, "model_inference") and row["tenant"] == TENANTS.get(task, "globex")
        assert set(row) >= {"task_type", "partition", "state_since", "age_ms", "attempt", "business_value", "risk",
                            "deadline", "not_before"}
        assert 0 <= row["age_ms"] < 600_000
    # oldest in its state first
    ages = [row["age_ms"] for row in out["tasks"]]
    assert ages == sorted(ages, reverse=True)
    assert tasks["k-after"]["waiting_for"] == [{"reason": "dependency", "task_id": "k-up"}]
    not_before = tasks["k-up"]["waiting_for"][0]
    assert not_before["until"] == tasks["k-up"]["not_before"] and not_before["until_ms"] > out["read_at"]
    retry = tasks["k-retry"]["waiting_for"][0]
    assert retry["until_ms"] > out["read_at"], "the back-off lies ahead"
    assert tasks["k-sent"]["waiting_for"][0]["until_ms"] > out["read_at"] + 800_000, "the lease of 900 s"

    # ---- each filter selects exactly what the drive left
    def ids(*args):
        return set(listed(env, *args)[1])

    blocked = {t for t, (s, _) in FINAL.items() if s == "BLOCKED"}
    assert ids("--state", "BLOCKED") == blocked
    assert ids("--state", "blocked") == blocked, "states are named in any case"
    assert ids("--state", "RETRY_WAIT") == {"k-retry"}
    assert ids("--state", "READY") == set()
    assert ids("--domain", "evaluation") == {"k-approve", "k-after"}
    assert ids("--tenant", "acme") == set(TENANTS)
    assert ids("--tenant", "acme", "--state", "BLOCKED") == {"k-approve", "k-after"}
    for reason in ("approval", "dependency", "not_before", "retry", "worker"):
        expected = {t for t, (_, reasons) in FINAL.items() if reason in reasons}
        assert ids("--waiting-for", reason) == expected, reason
    assert ids("--waiting-for", "approval", "--domain", "remediation") == {"k-later"}
    result_ = backlogd("tasks", "list", "--waiting-for", "breaker", "--json", env=env)
    assert result_.returncode == 0, result_.stderr
    assert json.loads(result_.stdout)["tasks"] == []
    assert "--waiting-for breaker: " in result_.stderr and "name their /metrics with --metrics URL" in result_.stderr
    # an instance that cannot be asked is an error, not an empty answer
    unasked = backlogd("tasks", "list", "--waiting-for", "breaker", "--metrics", "http://127.0.0.1:1/metrics", env=env)
    assert unasked.returncode == 1 and "--metrics: http://127.0.0.1:1/metrics" in unasked.stderr
    # no agent here: nothing held by one, and nothing to say about it (tests/integration/test_agents.py holds some)
    result_ = backlogd("tasks", "list", "--waiting-for", "agent", "--json", env=env)
    assert result_.returncode == 0 and json.loads(result_.stdout)["tasks"] == [] and result_.stderr == "", \
        result_.stderr

    limited, rows = listed(env, "--state", "BLOCKED", "--limit", "2")
    assert limited["matched"] == 4 and limited["shown"] == 2 and len(rows) == 2
    everything = listed(env, "--state", "BLOCKED")[0]["tasks"]
    assert [r["task_id"] for r in limited["tasks"]] == [r["task_id"] for r in everything[:2]], "the oldest two"

    text = backlogd("tasks", "list", "--waiting-for", "dependency", env=env)
    assert text.returncode == 0, text.stderr
    assert "1 task matches (waiting for dependency)" in text.stdout
    assert "TASK_ID" in text.stdout and "WAITING FOR" in text.stdout
    line = next(l for l in text.stdout.splitlines() if l.startswith("k-after"))
    assert "BLOCKED" in line and "evaluation" in line and "acme" in line and "dependency k-up" in line

    # ---- show: one task in full
    shown = show(env, "k-after")
    assert shown["task_id"] == "k-after" and shown["state"] == "BLOCKED" and not shown["placeholder"]
    assert shown["waiting_for"] == [{"reason": "dependency", "task_id": "k-up", "state": "BLOCKED"}]
    score = shown["score"]
    assert score["policy"] == "ops@7" and score["source"] == str(policy) and score["if_ready"] is True
    assert [c["name"] for c in score["rationale"]] == ["business_value", "risk", "sla_urgency", "freshness", "aging",
                                                       "retry_penalty", "deadline_risk"]
    assert abs(sum(c["contribution"] for c in score["rationale"]) - score["value"]) < 1e-9
    by_name = {c["name"]: c for c in score["rationale"]}
    assert by_name["business_value"]["raw"] == 0.9 and by_name["business_value"]["weight"] == 2.0
    assert [(t["from"], t["to"]) for t in shown["transitions"]] == [(None, "QUEUED"), ("QUEUED", "BLOCKED")]
    assert shown["transitions_total"] == 2 and shown["transitions"][1]["reason"] == "dependency"

    approval = show(env, "k-approve")
    assert approval["approval"] == {"required": True, "approved": False}
    assert approval["waiting_for"] == [{"reason": "approval"}]
    assert approval["score"]["approval_required"] is True

    busy = show(env, "k-busy", "--transitions", "2")
    assert busy["score"]["if_ready"] is True and busy["transitions_total"] == 4
    assert [t["to"] for t in busy["transitions"]] == ["DISPATCHED", "RUNNING"], "the last two, oldest first"
    assert busy["transitions"][0]["policy"] == "ops@7" and busy["transitions"][0]["score"] is not None

    done = show(env, "k-done", "--transitions", "0")
    assert done["score"] is None and done["waiting_for"] == [] and done["transitions"] == []

    placeholder_free = backlogd("tasks", "show", "k-up", env=env)
    assert placeholder_free.returncode == 0, placeholder_free.stderr
    page = placeholder_free.stdout
    assert "state       BLOCKED since" in page and "waits for   not_before until" in page
    assert "score       " in page and "under ops@7 (if it were READY now)" in page
    assert "business_value" in page and "retry_penalty" in page
    assert "(new) -> QUEUED  cause SUBMITTED" in page and "QUEUED -> BLOCKED  cause SUBMITTED, reason not_before" in page

    missing = backlogd("tasks", "show", "k-nobody", env=env)
    assert missing.returncode == 1 and "k-nobody is not in" in missing.stderr and missing.stdout == ""
