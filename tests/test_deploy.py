"""deploy/: the manifests parse and only name what the code really has (CLI subcommands and options,
settings, the rules file's path, the health route, the search attributes), and the Temporal TLS /
API-key settings reach the client."""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import typer.main
import yaml
from temporalio.service import TLSConfig

from activities.clients.connection import connect, tls_for
from models.config import Settings
from models.search_attributes import ALL as SEARCH_ATTRIBUTES
from models.search_attributes import cli_type
from workers.cli import app
from workers.processes import STOP_TIMEOUT_S

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CLI = typer.main.get_command(app)
WORKER_GRACEFUL_SHUTDOWN_S = 10  # workers/worker.py build_worker
CLUSTER_SCOPED = {"Namespace"}


def documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCS = documents()


def by_kind(kind: str) -> list[dict]:
    return [d for _, d in DOCS if d["kind"] == kind]


def named(kind: str, name: str) -> dict:
    (doc,) = [d for d in by_kind(kind) if d["metadata"]["name"] == name]
    return doc


def pod_specs() -> list[tuple[str, dict]]:
    return [(doc["metadata"]["name"], doc["spec"]["template"]["spec"])
            for _, doc in DOCS if doc["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")]


def orderhub_containers() -> list[tuple[str, dict, dict]]:
    """(workload, pod spec, container) of every container that runs the orderhub CLI."""
    return [(name, spec, c) for name, spec in pod_specs() for c in spec["containers"]
            if Path(((c.get("command") or []) + (c.get("args") or []) or [""])[0]).name == "orderhub"]


def setting_env_names() -> set[str]:
    """Every environment variable name Settings reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        if alias is None:
            names.add(f"{prefix}{field}".upper())
        else:
            names.update(str(c).upper() for c in getattr(alias, "choices", [alias]))
    return names


def dockerfile() -> list[tuple[str, str]]:
    """The final stage's instructions as (INSTRUCTION, rest), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages[-1]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in dockerfile():
        if instruction == "ENV":
            env.update(kv.split("=", 1) for kv in shlex.split(rest))
    return env


def effective_env(container: dict) -> dict[str, str]:
    """What the process sees: the image's ENV, then envFrom (ConfigMaps, Secrets), then env."""
    env = dict(dockerfile_env())
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(named("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secret = named("Secret", source["secretRef"]["name"])
            env.update(secret.get("stringData", {}))
    env.update({e["name"]: e.get("value", "<from a reference>") for e in container.get("env", [])})
    return env


def check_invocation(argv: list[str]) -> None:
    """`orderhub <subcommand> [options]` names a real subcommand with options it takes."""
    assert Path(argv[0]).name == "orderhub", argv
    assert len(argv) > 1 and argv[1] in CLI.commands, f"{argv}: orderhub has {sorted(CLI.commands)}"
    command = CLI.commands[argv[1]]
    # Parse without running: unknown options and bad values (e.g. --processes 0) are refused.
    try:
        command.make_context(argv[1], list(argv[2:]))
    except Exception as err:  # typer's (vendored) click UsageError
        raise AssertionError(f"{argv}: {err}") from err


# --- the manifests -------------------------------------------------------------------------------------


def test_every_manifest_parses_with_kind_and_name():
    files = {f for f, _ in DOCS}
    assert {"namespace.yaml", "configmap.yaml", "secret.example.yaml", "api.yaml", "worker.yaml",
            "postgres.yaml"} <= files
    for file, doc in DOCS:
        assert doc.get("apiVersion") and doc.get("kind"), file
        assert doc.get("metadata", {}).get("name"), f"{file}: {doc['kind']} without metadata.name"
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == "orderhub", f"{file}: {doc['kind']} {doc['metadata']['name']}"


def test_workloads_run_real_cli_commands():
    invoked = {}
    for workload, _, container in orderhub_containers():
        argv = (container.get("command") or []) + (container.get("args") or [])
        check_invocation(argv)
        invoked[workload] = argv[1:]
    assert invoked["orderhub-api"] == ["api"]
    assert invoked["orderhub-worker"][0] == "worker" and "--processes" in invoked["orderhub-worker"]
    # The checker itself refuses what the CLI does not have.
    for bad in (["orderhub", "migrate"], ["orderhub", "worker", "--replicas", "2"],
                ["orderhub", "worker", "--processes", "0"]):
        with pytest.raises(AssertionError):
            check_invocation(bad)


def test_no_migration_job_since_the_processes_migrate_on_start():
    assert "migrate" not in CLI.commands  # if it is ever added, a Job should run it (deploy/README.md)
    assert not by_kind("Job")


def test_every_orderhub_variable_is_a_setting():
    known = setting_env_names()
    assert {"DATABASE_URL", "ORDERHUB_TEMPORAL_TLS", "ORDERHUB_TEMPORAL_TLS_CERT", "ORDERHUB_TEMPORAL_TLS_KEY",
            "ORDERHUB_TEMPORAL_TLS_CA", "ORDERHUB_TEMPORAL_API_KEY"} <= known
    names: dict[str, set[str]] = {}
    for cm in by_kind("ConfigMap"):
        names[f"ConfigMap {cm['metadata']['name']}"] = set(cm.get("data", {}))
    for secret in by_kind("Secret"):
        if secret["metadata"]["name"] == "orderhub-secrets":
            names["Secret orderhub-secrets"] = set(secret["stringData"])
    for workload, _, container in orderhub_containers():
        names[workload] = {e["name"] for e in container.get("env", [])}
    names["Dockerfile ENV"] = set(dockerfile_env())
    # Commented-out settings in the ConfigMap are meant to be uncommented: they must be real too.
    commented = re.findall(r"#\s*(ORDERHUB_[A-Z0-9_]+):", (K8S / "configmap.yaml").read_text())
    names["configmap.yaml comments"] = set(commented)
    for where, found in names.items():
        ours = {n for n in found if n.startswith("ORDERHUB_") or n == "DATABASE_URL"}
        assert ours <= known, f"{where}: not settings: {sorted(ours - known)}"


def test_workload_environment_builds_settings(monkeypatch):
    """The ConfigMap's and the Secret template's values validate (types) and land where meant."""
    for workload, _, container in orderhub_containers():
        env = effective_env(container)
        for key in [k for k in os.environ if k.startswith("ORDERHUB_") or k == "DATABASE_URL"]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("ORDERHUB_") or key == "DATABASE_URL":
                monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)
        assert settings.db_url.startswith("postgresql+asyncpg://"), workload
        assert settings.api_host == "0.0.0.0" and settings.temporal_tls is False
        assert str(settings.rules_file) == env["ORDERHUB_RULES_FILE"]


def test_workers_are_given_time_to_shut_down_gracefully():
    worker = named("Deployment", "orderhub-worker")
    spec = worker["spec"]["template"]["spec"]
    assert worker["spec"]["replicas"] >= 2
    assert STOP_TIMEOUT_S > WORKER_GRACEFUL_SHUTDOWN_S
    assert spec["terminationGracePeriodSeconds"] > STOP_TIMEOUT_S


def test_api_probes_and_port_match_the_app():
    from api.app import create_app

    api = named("Deployment", "orderhub-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    env = effective_env(container)
    routes = {getattr(route, "path", None) for route in create_app(Settings(_env_file=None), migrate=False).routes}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(env["ORDERHUB_API_PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes and container[probe]["httpGet"]["path"] == "/healthz"
    service = named("Service", "orderhub-api")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)


def test_rules_configmap_is_mounted_where_rules_file_points():
    readme = (DEPLOY / "README.md").read_text()
    command = re.search(r"kubectl (?:-n orderhub )?create configmap (\S+) --from-file=([\w.]+)=deploy/rules\.yaml",
                        readme)
    assert command, "deploy/README.md must show how the rules ConfigMap is made"
    configmap, key = command.groups()
    assert (DEPLOY / "rules.yaml").exists()
    for workload, spec, container in orderhub_containers():
        rules_file = Path(effective_env(container)["ORDERHUB_RULES_FILE"])
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = [m for m in container.get("volumeMounts", [])
                  if volumes[m["name"]].get("configMap", {}).get("name") == configmap]
        assert len(mounts) == 1, f"{workload}: the ConfigMap {configmap} is not mounted once"
        (mount,) = mounts
        # A directory mount (no subPath): an edited ConfigMap reaches the pod, the process reloads it.
        assert "subPath" not in mount
        assert Path(mount["mountPath"]) / key == rules_file, workload


def test_secret_template_holds_placeholders_only():
    for secret in by_kind("Secret"):
        for key, value in secret.get("stringData", {}).items():
            assert value == "" or "CHANGE-ME" in value, f"{secret['metadata']['name']}.{key} looks like a real secret"
        assert not secret.get("data"), "a template carries stringData placeholders, not encoded values"


def test_postgres_statefulset_keeps_its_data_and_matches_database_url():
    pg = named("StatefulSet", "orderhub-postgres")
    claims = {t["metadata"]["name"] for t in pg["spec"]["volumeClaimTemplates"]}
    (container,) = pg["spec"]["template"]["spec"]["containers"]
    assert {m["name"] for m in container["volumeMounts"]} <= claims
    env = {e["name"]: e.get("value") for e in container["env"]}
    url = named("Secret", "orderhub-secrets")["stringData"]["DATABASE_URL"]
    assert f"://{env['POSTGRES_USER']}:" in url and url.endswith(f"/{env['POSTGRES_DB']}")
    assert f"@{pg['spec']['serviceName']}.orderhub.svc" in url
    assert named("Service", pg["spec"]["serviceName"])


# --- the image -----------------------------------------------------------------------------------------


def test_dockerfile_default_command_is_a_real_subcommand():
    final = dict((i, r) for i, r in dockerfile() if i in ("CMD", "ENTRYPOINT"))
    argv = json.loads(final.get("ENTRYPOINT", "[]")) + json.loads(final["CMD"])
    check_invocation(argv)
    assert argv[1:] == ["api"]
    assert any(i == "USER" and not r.startswith(("root", "0")) for i, r in dockerfile())


def test_dockerfile_puts_the_rules_file_where_rules_file_points():
    env = dockerfile_env()
    copies = [shlex.split(r) for i, r in dockerfile() if i == "COPY"]
    assert ["deploy/rules.yaml", env["ORDERHUB_RULES_FILE"]] in copies
    assert env["ORDERHUB_API_HOST"] == "0.0.0.0"  # reachable from outside the container


def test_dockerfile_copies_every_package_and_dockerignore_lets_them_through():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    text = (DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (?!--from)(\S+?)/? ", text, re.M))
    assert packages | {"pyproject.toml", "deploy/rules.yaml"} <= copied
    for source in copied:
        assert (ROOT / source).exists(), source
    allowed = {ln[1:].strip().rstrip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines()
               if ln.startswith("!")}
    assert copied <= allowed, f".dockerignore keeps out {sorted(copied - allowed)}"


# --- documentation that must follow the code -----------------------------------------------------------


def test_readme_registers_every_search_attribute_with_its_type():
    readme = (DEPLOY / "README.md").read_text().replace("\\\n", " ")  # shell continuation lines joined
    registered: dict[str, str] = {}
    for command in re.findall(r"temporal operator search-attribute create[^\n]*", readme):
        words = shlex.split(command)
        kind = words[words.index("--type") + 1]
        registered |= {words[i + 1]: kind for i, w in enumerate(words) if w == "--name"}
    assert registered == {key.name: cli_type(key) for key in SEARCH_ATTRIBUTES}
    cloud = dict(re.findall(r"--search-attribute (\w+)=(\w+)", readme))
    assert cloud == registered


def test_readme_documents_every_variable_the_manifests_set():
    readme = (DEPLOY / "README.md").read_text()
    for cm in by_kind("ConfigMap"):
        for key in cm.get("data", {}):
            assert f"`{key}`" in readme, key
    for key in named("Secret", "orderhub-secrets")["stringData"]:
        assert f"`{key}`" in readme, key
    for key in ("ORDERHUB_TEMPORAL_TLS_CERT", "ORDERHUB_TEMPORAL_TLS_KEY", "ORDERHUB_TEMPORAL_TLS_CA"):
        assert f"`{key}`" in readme, key


# --- Temporal TLS and API key --------------------------------------------------------------------------


def test_plain_connection_by_default(monkeypatch):
    assert tls_for(Settings(_env_file=None)) is False
    for name in ("CERT", "KEY", "CA"):  # set but empty, as a manifest may leave them: not given
        monkeypatch.setenv(f"ORDERHUB_TEMPORAL_TLS_{name}", "")
    assert tls_for(Settings(_env_file=None)) is False


def test_tls_flag_and_api_key_turn_tls_on():
    assert tls_for(Settings(_env_file=None, temporal_tls=True)) is True
    assert tls_for(Settings(_env_file=None, temporal_api_key="k")) is True


def test_mtls_reads_certificate_key_and_ca(tmp_path):
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"PEM {name}".encode())
    tls = tls_for(Settings(_env_file=None, temporal_tls_cert=tmp_path / "client.pem",
                           temporal_tls_key=tmp_path / "client.key", temporal_tls_ca=tmp_path / "ca.pem"))
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"PEM client.pem", b"PEM client.key", b"PEM ca.pem")


def test_mtls_needs_both_halves_and_readable_files(tmp_path):
    with pytest.raises(ValueError, match="go together"):
        tls_for(Settings(_env_file=None, temporal_tls_cert=tmp_path / "client.pem"))
    with pytest.raises(ValueError, match="ORDERHUB_TEMPORAL_TLS_CERT: cannot read"):
        tls_for(Settings(_env_file=None, temporal_tls_cert=tmp_path / "missing.pem",
                         temporal_tls_key=tmp_path / "missing.key"))


def test_settings_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ORDERHUB_TEMPORAL_TLS", "true")
    monkeypatch.setenv("ORDERHUB_TEMPORAL_TLS_CA", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("ORDERHUB_TEMPORAL_API_KEY", "secret-key")
    settings = Settings(_env_file=None)
    assert settings.temporal_tls and settings.temporal_tls_ca == tmp_path / "ca.pem"
    assert settings.temporal_api_key == "secret-key" and "secret-key" not in repr(settings)


async def test_connect_hands_api_key_and_tls_to_the_client():
    settings = Settings(_env_file=None, temporal_address="example.tmprl.cloud:7233",
                        temporal_namespace="orderhub.acct", temporal_api_key="the-key")
    client = await connect(settings, lazy=True)  # lazy: nothing is dialled
    config = client.service_client.config
    assert (config.target_host, config.api_key, config.tls) == ("example.tmprl.cloud:7233", "the-key", True)
    assert client.namespace == "orderhub.acct"
