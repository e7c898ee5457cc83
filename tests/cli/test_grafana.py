"""deploy/grafana/: backlogd's Grafana dashboard and its provisioning, without a
broker, Prometheus or Grafana.

Every PromQL expression of the dashboard is parsed: by promtool (Prometheus' own
parser: `promtool check rules` on a rule file made of them) and by the small
parser below, which walks the grammar (operators and their modifiers,
aggregations with by/without before or after, function calls, selectors with
label matchers, ranges, subqueries, offset and @) and returns the metric names
the expression selects, never a label name, a function or a keyword. Each name
must be one that a live `backlogd run` declares on /metrics (a histogram's
_bucket, _sum and _count), or one of the two external metrics the alerts already
use, and then only in a panel that says it is external. Every metric backlogd
exports is shown somewhere. The provisioning points Grafana at the dashboard and
at a Prometheus datasource with the uid every panel names.
"""
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest_common import BACKLOGD, SOURCE_DIR, clean_env

GRAFANA = SOURCE_DIR / "deploy" / "grafana"
DASHBOARD = GRAFANA / "backlogd.json"
# Metrics that are not backlogd's but that deploy/prometheus/alerts.yaml already uses.
EXTERNAL = {"kafka_consumergroup_lag": "kafka-exporter", "kube_pod_status_ready": "kube-state-metrics"}
# What Grafana substitutes before Prometheus sees an expression.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "15m"}


# ---- a PromQL parser that returns the metric names an expression selects --------------

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}
FUNCTIONS = {"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
             "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
             "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor",
             "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
             "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
             "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time",
             "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_desc", "sqrt",
             "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector",
             "year"}
# Binary operators by precedence, lowest first; ^ is right-associative.
PRECEDENCE = [{"or"}, {"and", "unless"}, {"==", "!=", "<=", "<", ">=", ">"}, {"+", "-"}, {"*", "/", "%", "atan2"},
              {"^"}]
TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<identifier>[a-zA-Z_][a-zA-Z0-9_:]*)
  | (?P<operator>==|!=|<=|>=|=~|!~|[-+*/%^<>=,(){}\[\]:@])
""", re.X)


class PromQLError(ValueError):
    pass


def tokens(text):
    out, at = [], 0
    while at < len(text):
        match = TOKEN.match(text, at)
        if not match:
            raise PromQLError(f"unexpected {text[at:at + 10]!r} at {at}")
        kind = match.lastgroup
        if kind != "space":
            out.append((kind, match.group()))
        at = match.end()
    return out + [("end", "")]


class Parser:
    """Recursive descent over the PromQL grammar; `metrics` collects the names selected."""

    def __init__(self, text):
        self.tokens, self.at, self.metrics = tokens(text), 0, []

    def peek(self, offset=0):
        return self.tokens[self.at + offset]

    def take(self, value=None, kind=None):
        token = self.peek()
        if (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise PromQLError(f"expected {value or kind}, found {token[1]!r}")
        self.at += 1
        return token

    def accept(self, value):
        if self.peek()[1] == value and self.peek()[0] in ("operator", "identifier"):
            self.at += 1
            return True
        return False

    def parse(self):
        self.expression(0)
        self.take(kind="end")
        return self.metrics

    def expression(self, level):
        if level == len(PRECEDENCE):
            return self.unary()
        self.expression(level + 1)
        while self.peek()[1] in PRECEDENCE[level] and self.peek()[0] in ("operator", "identifier"):
            right_assoc = self.take()[1] == "^"
            self.accept("bool")
            if self.accept("on") or self.accept("ignoring"):
                self.label_list()
            if self.accept("group_left") or self.accept("group_right"):
                if self.peek()[1] == "(":
                    self.label_list()
            self.expression(level if right_assoc else level + 1)

    def unary(self):
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "operator":
            self.take()
        self.primary()
        self.postfix()

    def label_list(self):
        self.take("(")
        while not self.accept(")"):
            self.take(kind="identifier")
            if not self.accept(","):
                self.take(")")
                break

    def primary(self):
        kind, value = self.peek()
        if value == "(" and kind == "operator":
            self.take()
            self.expression(0)
            self.take(")")
        elif kind in ("number", "string"):
            self.take()
        elif value == "{":
            self.selector(None)
        elif kind == "identifier" and value in ("Inf", "NaN", "inf", "nan"):
            self.take()
        elif kind == "identifier" and value in AGGREGATIONS:
            self.aggregation()
        elif kind == "identifier" and self.peek(1)[1] == "(":
            if value not in FUNCTIONS:
                raise PromQLError(f"unknown function {value}")
            self.take()
            self.arguments()
        elif kind == "identifier":
            self.take()
            self.selector(value)
        else:
            raise PromQLError(f"unexpected {value!r}")

    def aggregation(self):
        self.take()
        if self.accept("by") or self.accept("without"):
            self.label_list()
        self.arguments()
        if self.accept("by") or self.accept("without"):
            self.label_list()

    def arguments(self):
        self.take("(")
        if self.accept(")"):
            return
        while True:
            self.expression(0)
            if self.accept(")"):
                return
            self.take(",")

    def selector(self, name):
        if self.accept("{"):
            while not self.accept("}"):
                label = self.take(kind="identifier")[1]
                op = self.take(kind="operator")[1]
                if op not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"bad matcher operator {op}")
                text = self.take(kind="string")[1]
                if label == "__name__":
                    if op != "=" or name is not None:
                        raise PromQLError("__name__ must be matched exactly, once")
                    name = json.loads('"' + text[1:-1] + '"') if text[0] != "`" else text[1:-1]
                if not self.accept(","):
                    self.take("}")
                    break
        if name is None:
            raise PromQLError("a selector without a metric name")
        self.metrics.append(name)

    def postfix(self):
        while True:
            if self.accept("["):
                self.take(kind="duration")
                if self.accept(":"):
                    if self.peek()[0] == "duration":
                        self.take()
                self.take("]")
            elif self.accept("offset"):
                self.accept("-")
                self.take(kind="duration")
            elif self.accept("@"):
                if self.peek()[1] in ("start", "end"):
                    self.take()
                    self.take("(")
                    self.take(")")
                else:
                    self.take(kind="number")
            else:
                return


def metric_names(expression):
    return Parser(expression).parse()


def test_the_parser_finds_metrics_and_only_metrics():
    assert metric_names('sum by (state, domain) (backlogd_backlog_items{state=~"READY|BLOCKED", domain!=""})') == [
        "backlogd_backlog_items"]
    assert metric_names("histogram_quantile(0.99, sum without (instance) "
                        "(rate(backlogd_txn_commit_seconds_bucket[5m] offset 1h)))") == [
        "backlogd_txn_commit_seconds_bucket"]
    assert metric_names('a / on (job) group_left (topic) b > bool 3 or {__name__="c", x="y"}') == ["a", "b", "c"]
    assert metric_names("max_over_time(rate(x_total[1m])[30m:1m]) @ end()") == ["x_total"]
    assert metric_names('-sum(rate(on[5m])) by (by)') == ["on"], "a metric may be named like a keyword"
    assert metric_names('count_values("v", up) + topk(3, y) - 2 ^ 3 ^ 4') == ["up", "y"]
    for bad in ["sum(", "rate(x[5m]", "x{a=1}", "frobnicate(x)", "sum by x (y)", "{a=\"b\"}", "x[5]", "1 +"]:
        with pytest.raises(PromQLError):
            metric_names(bad)


# ---- the dashboard ----------------------------------------------------------------------

def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels():
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def expressions():
    """(panel, target, the expression as Prometheus gets it)."""
    for panel in panels():
        for target in panel["targets"]:
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, f"{panel['title']}: an unknown variable in {target['expr']}"
            yield panel, target, expression


def served_metrics(tmp_path):
    """The series names a live `backlogd run` declares on /metrics (no broker answers: it serves meanwhile)."""
    import socket
    import urllib.request

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    port, closed = free_port(), free_port()
    env = clean_env(BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed}", BACKLOGD_HTTP_ADDRESS="127.0.0.1",
                    BACKLOGD_HTTP_PORT=port, BACKLOGD_ADMIN_TIMEOUT_MS=20000,
                    BACKLOGD_SCHEMAS_DIR=SOURCE_DIR / "schemas")
    process = subprocess.Popen([BACKLOGD, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the HTTP endpoint did not come up"
                time.sleep(0.1)
    finally:
        process.kill()
        process.wait(10)
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names |= {name + suffix for suffix in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    bases = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert len(bases) >= 20, text[:500]
    return names, bases


def test_every_query_names_only_metrics_backlogd_exports(tmp_path):
    names, bases = served_metrics(tmp_path)
    used = set()
    for panel, target, expression in expressions():
        try:
            metrics = metric_names(expression)
        except PromQLError as error:
            raise AssertionError(f"{panel['title']} {target['refId']}: {error}: {expression}") from None
        assert metrics, f"{panel['title']}: {expression} selects no metric"
        for metric in metrics:
            if metric in EXTERNAL:
                said = (panel["title"] + " " + panel.get("description", "")).lower()
                assert "external" in said and EXTERNAL[metric] in said, \
                    f"{panel['title']}: {metric} is {EXTERNAL[metric]}'s, and the panel must say so"
                continue
            assert metric in names, f"{panel['title']}: {metric} is not a metric backlogd exports"
            used.add(re.sub(r"_(bucket|sum|count)$", "", metric) if metric not in bases else metric)
    backlogd_metrics = {name for name in bases if name.startswith("backlogd_")}
    assert backlogd_metrics - used == set(), "every metric backlogd exports is on the dashboard"


def test_every_query_parses_with_prometheus_own_parser(tmp_path):
    result = subprocess.run(["bash", str(SOURCE_DIR / "scripts" / "deploy-tools.sh")], capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    promtool = Path(result.stdout.strip().splitlines()[-1]) / "promtool"
    rules = [{"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expression}
             for panel, target, expression in expressions()]
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run([str(promtool), "check", "rules", str(tmp_path / "dashboard.rules.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout


def test_dashboard_shape_and_provisioning():
    board = dashboard()
    assert board["uid"] == "backlogd" and board["title"] == "backlogd"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "backlogd.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
