"""The secured listeners of the test broker (scripts/testenv.sh), for tests that
run backlogd and its neighbours under their own principals with only the ACLs
docs/security.md lists.

What the broker offers (`scripts/testenv.sh env` exports it):
  BACKLOGD_TEST_SASL_BOOTSTRAP  SASL_SSL, SCRAM-SHA-512 and -256; users in SCRAM_USERS
  BACKLOGD_TEST_MTLS_BOOTSTRAP  SSL with a client certificate; the principal is User:<CN>
  BACKLOGD_TEST_TLS_DIR         ca.crt and <cn>.crt / <cn>.key for CN worker and backlogd
  BACKLOGD_TEST_SCRAM_USERS     a JSON file {user: password} (the passwords hold quotes,
                                backslashes and a dollar on purpose)
  BACKLOGD_TEST_AUTHORIZER_LOG  every decision of the StandardAuthorizer for any principal
                                but the suite's super user User:ANONYMOUS (the PLAINTEXT
                                listener); User:admin is a super user too

The helpers, in the order a test uses them:
  doc_acls()                 docs/security.md's `acl ...` shell blocks as Acl bindings per principal
  TestNames(prefix, group_id).acl(acl)
                             one doc binding renamed to a test's unique topic prefix and group id
  select(acls, operation, resource_type, name)
                             some of them (one to take away and give back)
  create_acls(acls) / delete_acls(acls)
                             as the super user, over the PLAINTEXT listener
  log_offset()               where the authorizer log ends now
  read_decisions(offset)     the decisions logged since then, as Decision tuples
  unused(acls, decisions) / denied(decisions, principals)
                             what the strict check asserts on
  sasl_config / mtls_config  a backlogd config file for SCRAM-SHA-512 over SASL_SSL or for
                             mutual TLS; backlogd_env(config, user) the environment that goes
                             with it (the password only in BACKLOGD_KAFKA_SASL_PASSWORD)
  sasl_client / mtls_client  librdkafka (confluent-kafka) settings for the same principals
"""
import json
import os
import re
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path

from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ResourcePatternType, ResourceType)

from conftest_common import SOURCE_DIR, clean_env
from kafka_tools import BOOTSTRAP

_PLAIN_PORT = int(BOOTSTRAP.rsplit(":", 1)[1])
_RUN_DIR = Path(os.environ.get("BACKLOGD_TESTENV_DIR", SOURCE_DIR / "build" / "testenv"))
SASL_BOOTSTRAP = os.environ.get("BACKLOGD_TEST_SASL_BOOTSTRAP", f"127.0.0.1:{_PLAIN_PORT + 2}")
MTLS_BOOTSTRAP = os.environ.get("BACKLOGD_TEST_MTLS_BOOTSTRAP", f"127.0.0.1:{_PLAIN_PORT + 3}")
TLS_DIR = Path(os.environ.get("BACKLOGD_TEST_TLS_DIR", _RUN_DIR / "tls"))
SCRAM_USERS_FILE = Path(os.environ.get("BACKLOGD_TEST_SCRAM_USERS", _RUN_DIR / "scram-users.json"))
AUTHORIZER_LOG = Path(os.environ.get("BACKLOGD_TEST_AUTHORIZER_LOG", _RUN_DIR / "authorizer.log"))
SECURITY_DOC = SOURCE_DIR / "docs" / "security.md"
CA = TLS_DIR / "ca.crt"


def scram_password(user):
    """The SCRAM password of a user the test broker was formatted with."""
    return json.loads(SCRAM_USERS_FILE.read_text())[user]


# ---- client settings -----------------------------------------------------------------------------------------
def sasl_client(user, mechanism="SCRAM-SHA-512"):
    """confluent-kafka settings for `user` over SASL_SSL."""
    return {"bootstrap.servers": SASL_BOOTSTRAP, "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": scram_password(user), "ssl.ca.location": str(CA)}


def mtls_client(cn):
    """confluent-kafka settings for User:<cn> over mutual TLS."""
    return {"bootstrap.servers": MTLS_BOOTSTRAP, "security.protocol": "SSL", "ssl.ca.location": str(CA),
            "ssl.certificate.location": str(TLS_DIR / f"{cn}.crt"), "ssl.key.location": str(TLS_DIR / f"{cn}.key")}


def _merge(into, settings):
    for key, value in settings.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = value
    return into


def sasl_config(path, user, mechanism="SCRAM-SHA-512", **settings):
    """Writes a backlogd config file at `path` that talks SCRAM over SASL_SSL as `user`, as docs/security.md
    shows it: no password in the file (backlogd_env passes it). `settings` are merged in, nested like the
    file ({"topics": {"prefix": ...}, "group_id": ...}). Returns the path."""
    kafka = {"bootstrap.servers": SASL_BOOTSTRAP, "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
             "sasl.username": user, "ssl.ca.location": str(CA), "ssl.endpoint.identification.algorithm": "https"}
    path = Path(path)
    path.write_text(json.dumps(_merge({"kafka": kafka}, settings), indent=2))
    return path


def mtls_config(path, cn, **settings):
    """Writes a backlogd config file at `path` for mutual TLS as User:<cn>; see sasl_config."""
    kafka = {"bootstrap.servers": MTLS_BOOTSTRAP, "security.protocol": "SSL", "ssl.ca.location": str(CA),
             "ssl.certificate.location": str(TLS_DIR / f"{cn}.crt"), "ssl.key.location": str(TLS_DIR / f"{cn}.key"),
             "ssl.endpoint.identification.algorithm": "https"}
    path = Path(path)
    path.write_text(json.dumps(_merge({"kafka": kafka}, settings), indent=2))
    return path


def backlogd_env(config, user=None, **overrides):
    """The environment for a backlogd command with this config file (BACKLOGD_CONFIG): the caller's BACKLOGD_
    settings dropped, the HTTP endpoint off, and for a SCRAM user its password in BACKLOGD_KAFKA_SASL_PASSWORD."""
    settings = dict(BACKLOGD_CONFIG=config, BACKLOGD_HTTP_PORT=0)
    if user is not None:
        settings["BACKLOGD_KAFKA_SASL_PASSWORD"] = scram_password(user)
    settings.update(overrides)
    return clean_env(**settings)


# ---- ACL bindings --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Acl:
    """One ALLOW binding as kafka-acls makes it: one operation on one resource pattern for one principal.
    resource_type: Topic, Group, TransactionalId or Cluster; pattern: literal or prefixed; operation as
    kafka-acls spells it (Read, Write, Describe, DescribeConfigs, Create, IdempotentWrite, ...). condition:
    the doc's comment `# only with ...` above the line, if any."""
    principal: str
    resource_type: str
    name: str
    pattern: str
    operation: str
    condition: str = ""

    def __str__(self):
        where = f"{self.resource_type}:{self.pattern}:{self.name}" if self.resource_type != "Cluster" else "Cluster"
        return f"{self.principal} {self.operation} {where}"

    def key(self):
        """Everything but the condition: what the broker stores."""
        return (self.principal, self.resource_type, self.name, self.pattern, self.operation)


def select(acls, operation=None, resource_type=None, name=None):
    """The bindings with this operation, resource type and (exact, as mapped) name; None matches any. For
    instance select(acls["User:backlogd"], "Write", "Topic", prefix + "backlog.dlq") to take one away."""
    return [a for a in acls if (operation is None or a.operation == operation)
            and (resource_type is None or a.resource_type == resource_type) and (name is None or a.name == name)]


_RESOURCE_OPTIONS = {"--topic": "Topic", "--group": "Group", "--transactional-id": "TransactionalId"}


def _acl_command(words, principal, condition):
    """The bindings of one `acl ...` line, the cartesian product kafka-acls makes of its operations and
    resources, under the pattern type it names."""
    operations, resources, pattern = [], [], "literal"
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--operation":
            operations.append(words[i + 1])
            i += 2
        elif word in _RESOURCE_OPTIONS:
            resources.append((_RESOURCE_OPTIONS[word], words[i + 1]))
            i += 2
        elif word == "--cluster":
            resources.append(("Cluster", "kafka-cluster"))
            i += 1
        elif word == "--resource-pattern-type":
            pattern = words[i + 1]
            i += 2
        else:
            raise ValueError(f"docs/security.md: an acl line with an option the parser does not know: {word}")
    if not operations or not resources:
        raise ValueError(f"docs/security.md: an acl line without an operation or a resource: {' '.join(words)}")
    return [Acl(principal, kind, name, "literal" if kind == "Cluster" else pattern, operation, condition)
            for operation in operations for kind, name in resources]


def doc_acls(path=SECURITY_DOC):
    """{principal: [Acl]} from every ```sh block of docs/security.md that calls `acl`: `principal=User:x` sets
    the principal of the lines below it; `acl OPTIONS` (continued with backslashes) adds bindings; a comment
    `# only with ...` marks the lines after it (to the block's end) with that condition."""
    acls = {}
    for block in re.findall(r"```sh\n(.*?)```", Path(path).read_text(), re.S):
        if not re.search(r"^acl ", block, re.M):
            continue
        principal, condition = None, ""
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("# only with"):
                condition = line[2:].rstrip(":")
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            if words[0].startswith("principal="):
                principal, condition = words[0].split("=", 1)[1], ""
            elif words[0] == "acl":
                if principal is None:
                    raise ValueError("docs/security.md: an acl line before any principal=")
                acls.setdefault(principal, []).extend(_acl_command(words[1:], principal, condition))
    return acls


@dataclass(frozen=True)
class TestNames:
    """The one way the doc's default names become a test's: every topic name and every group name but the
    reader's gets the test's topic prefix; the group id `backlogd` and the transactional-id names that start
    with `backlogd-` (`<group_id>-<instance>`, `<group_id>-dlq-redrive`) get the test's group id; the restore
    reader's group `backlogd-reader-<pid>` is fixed in src/kafka/reader.c and stays; principals are kept."""
    prefix: str
    group_id: str
    reader_group = "backlogd-reader-"

    def name(self, resource_type, name):
        if resource_type == "Topic":
            return self.prefix + name
        if resource_type == "Group":
            if name == "backlogd":
                return self.group_id
            return name if name == self.reader_group else self.prefix + name
        if resource_type == "TransactionalId":
            return self.group_id + name[len("backlogd"):] if name.startswith("backlogd-") else self.prefix + name
        return name

    def acl(self, acl):
        return replace(acl, name=self.name(acl.resource_type, acl.name))


_TYPES = {"Topic": ResourceType.TOPIC, "Group": ResourceType.GROUP, "TransactionalId": ResourceType.TRANSACTIONAL_ID,
          "Cluster": ResourceType.BROKER}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}


def _operation(name):
    """kafka-acls' spelling (DescribeConfigs) to confluent-kafka's AclOperation (DESCRIBE_CONFIGS)."""
    return AclOperation[re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()]


def binding(acl):
    return AclBinding(_TYPES[acl.resource_type], acl.name, _PATTERNS[acl.pattern], acl.principal, "*",
                      _operation(acl.operation), AclPermissionType.ALLOW)


def admin():
    """An AdminClient as the super user User:ANONYMOUS (the PLAINTEXT listener)."""
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create_acls(acls, timeout=30):
    """Creates the bindings (Acl values) as the super user; returns when the broker's authorizer has every one.
    CreateAcls is answered once the controller has them; the broker applies them when it replays the metadata
    a moment later, and a fresh broker's first request in between would be denied."""
    acls, client = list(acls), admin()
    if not acls:
        return
    for future in client.create_acls([binding(a) for a in acls], request_timeout=timeout).values():
        future.result()
    wanted = {a.key() for a in acls}
    any_binding = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                   AclPermissionType.ANY)
    deadline = time.monotonic() + timeout
    while True:
        present = {_key_of(b) for b in client.describe_acls(any_binding, request_timeout=timeout).result()}
        if wanted <= present or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert wanted <= present, f"the broker did not apply {len(wanted - present)} of the ACLs within {timeout} s"


_TYPE_NAMES = {ResourceType.TOPIC: "Topic", ResourceType.GROUP: "Group", ResourceType.TRANSACTIONAL_ID: "TransactionalId",
               ResourceType.BROKER: "Cluster"}


def _key_of(acl_binding):
    """An AclBinding the broker describes, as Acl.key() spells it."""
    kind = _TYPE_NAMES.get(acl_binding.restype, str(acl_binding.restype))
    pattern = "prefixed" if acl_binding.resource_pattern_type == ResourcePatternType.PREFIXED else "literal"
    operation = "".join(part.capitalize() for part in acl_binding.operation.name.split("_"))
    return (acl_binding.principal, kind, acl_binding.name, pattern, operation)


def delete_acls(acls, timeout=30):
    """Deletes exactly these bindings as the super user; returns the number the broker removed."""
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                b.permission_type) for b in map(binding, acls)]
    if not filters:
        return 0
    client = admin()
    return sum(len(f.result()) for f in client.delete_acls(filters, request_timeout=timeout).values())


# ---- the authorizer's log ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """One logged decision. operation and resource_type as the broker logs them (DESCRIBE_CONFIGS, TOPIC);
    rule: the ACL that allowed it, an Acl, or None when the broker names no ACL (a super user, a default)."""
    allowed: bool
    principal: str
    operation: str
    resource_type: str
    pattern: str
    name: str
    request: str
    rule: Acl = None

    def __str__(self):
        verdict = "ALLOWED" if self.allowed else "DENIED"
        return (f"{verdict} {self.principal} {self.operation} {self.resource_type}:{self.pattern}:{self.name} "
                f"({self.request})")


_DECISION = re.compile(r"Principal = (?P<principal>\S+) is (?P<verdict>Allowed|Denied) operation = (?P<operation>\S+)"
                       r" from host = \S+ on resource = (?P<type>[A-Za-z_]+):(?P<pattern>[A-Z]+):(?P<name>.*?)"
                       r" for request = (?P<request>\S+) with resourceRefCount = \d+(?: based on rule (?P<rule>.*))?$")
_RULE = re.compile(r"MatchingAcl\(acl=StandardAcl\(resourceType=(?P<type>\w+), resourceName=(?P<name>.*?), "
                   r"patternType=(?P<pattern>\w+), principal=(?P<principal>[^,]+), host=[^,]*, "
                   r"operation=(?P<operation>\w+), permissionType=ALLOW\)\)")
_LOG_TYPES = {"TOPIC": "Topic", "GROUP": "Group", "TRANSACTIONAL_ID": "TransactionalId", "CLUSTER": "Cluster"}


def _camel(upper):
    """IDEMPOTENT_WRITE -> IdempotentWrite, as kafka-acls spells operations."""
    return "".join(part.capitalize() for part in upper.split("_"))


def _rule_acl(text):
    match = _RULE.fullmatch(text or "")
    if not match:
        return None
    kind = _LOG_TYPES.get(match["type"], match["type"].capitalize())
    return Acl(match["principal"], kind, "kafka-cluster" if kind == "Cluster" else match["name"],
               match["pattern"].lower(), _camel(match["operation"]))


def log_offset():
    """Where the authorizer log ends now: read_decisions(offset) then sees only what follows."""
    return AUTHORIZER_LOG.stat().st_size if AUTHORIZER_LOG.exists() else 0


def read_decisions(offset=0):
    """The decisions logged from `offset` on, in order."""
    with open(AUTHORIZER_LOG, "rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    decisions = []
    for line in text.splitlines():
        match = _DECISION.search(line)
        if match:
            kind = _LOG_TYPES.get(match["type"], match["type"].capitalize())
            decisions.append(Decision(match["verdict"] == "Allowed", match["principal"], match["operation"], kind,
                                      match["pattern"].lower(), match["name"], match["request"],
                                      _rule_acl(match["rule"])))
    return decisions


def unused(acls, decisions):
    """The bindings no ALLOWED decision was made on (the broker names the ACL that allowed each decision)."""
    used = {d.rule.key() for d in decisions if d.allowed and d.rule is not None}
    return [a for a in acls if a.key() not in used]


def denied(decisions, principals):
    """The DENIED decisions for these principals."""
    return [d for d in decisions if not d.allowed and d.principal in principals]
