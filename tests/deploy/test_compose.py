"""docker-compose.yml, .env.example, the Dockerfile and deploy/prometheus checked without Docker:
the compose-spec schema (check-jsonschema), every mounted file, every SLAWATCH_* name, the
commands the slawatch containers run, the topics kafka-init creates, and the Prometheus and
Alertmanager configs with promtool/amtool on the files laid out as the containers see them."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import click
import pytest
import typer.main

from streams.cli import app
from streams.settings import Settings
from streams.worker import changelog_topic
from tests.monitoring import require_binary

from . import COMPOSE, ENV_EXAMPLE, ROOT, bind_mounts, compose

DOCKERFILE = ROOT / "Dockerfile"
DOCS = [ROOT / "docs" / "production.md", ROOT / "docs" / "security.md"]
SLAWATCH_SERVICES = ("worker", "sink", "generator")
LONG_RUNNING = ("kafka", "clickhouse", "worker", "sink", "prometheus", "alertmanager", "grafana")
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def check_jsonschema(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=60)


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_compose_file_matches_the_compose_spec():
    proc = check_jsonschema(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path):
    # The check above is only worth something if the schema really bites.
    broken = COMPOSE.read_text().replace("condition: service_healthy", "condition: when_ready", 1)
    (tmp_path / "docker-compose.yml").write_text(broken)
    assert check_jsonschema(tmp_path / "docker-compose.yml").returncode != 0


def test_every_mounted_file_exists():
    missing = [(name, src) for name, svc in compose()["services"].items()
               for src, _ in bind_mounts(svc) if not (COMPOSE.parent / src).exists()]
    assert not missing, f"mounted paths missing from the repository: {missing}"


def test_grafana_mounts_provisioning_and_dashboards():
    mounts = dict(bind_mounts(compose()["services"]["grafana"]))
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./grafana/dashboards"] == "/var/lib/grafana/dashboards"
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_INSTALL_PLUGINS"].startswith("grafana-clickhouse-datasource ")
    assert {"GF_CLICKHOUSE_USER", "GF_CLICKHOUSE_PASSWORD"} <= set(env)


def test_grafana_provisioning_reads_what_compose_mounts():
    """The dashboard providers' paths and the data source's host/credentials match the stack."""
    import yaml

    mounts = {target: src for src, target in bind_mounts(compose()["services"]["grafana"])}
    providers = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yml").read_text())["providers"]
    for provider in providers:
        path = provider["options"]["path"]
        target = next(t for t in mounts if path.startswith(t + "/") or path == t)
        assert (ROOT / mounts[target] / path[len(target):].lstrip("/")).is_dir(), path
    sources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]
    ch = next(d for d in sources if d["type"] == "grafana-clickhouse-datasource")
    assert ch["jsonData"]["host"] in compose()["services"]
    assert ch["jsonData"]["username"] == "${GF_CLICKHOUSE_USER}"
    assert ch["secureJsonData"]["password"] == "${GF_CLICKHOUSE_PASSWORD}"


def test_every_slawatch_variable_is_a_setting():
    fields = {f"SLAWATCH_{name.upper()}" for name in Settings.model_fields}
    for path in [COMPOSE, ENV_EXAMPLE, DOCKERFILE, *DOCS]:
        used = set(re.findall(r"\bSLAWATCH_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
        unknown = used - fields
        assert not unknown, f"{path.relative_to(ROOT)} uses variables Settings does not have: {sorted(unknown)}"


def test_no_secret_is_written_in_the_compose_file():
    for name, svc in compose()["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value)), (
                    f"{name}.{key} must come from .env as ${{VAR:?message}}, not {value!r}")


def test_env_example_provides_every_required_variable_with_placeholders_only():
    required = {m.group(1) for m in INTERPOLATION.finditer(COMPOSE.read_text()) if m.group(2) == "?"}
    example = env_example()
    assert required <= set(example), f".env.example lacks {sorted(required - set(example))}"
    for key, value in example.items():
        if re.search(r"PASSWORD|TOKEN|SECRET", key):
            assert value == "change-me", f".env.example: {key} must be the change-me placeholder"
    # Every interpolated variable either has a default or is in the example.
    for m in INTERPOLATION.finditer(COMPOSE.read_text()):
        assert m.group(2) or m.group(1) in example, f"${{{m.group(1)}}} has no default and no example"


def test_workers_scale_without_clashes():
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "a published worker port clashes as soon as there are two replicas"
    assert worker["environment"]["SLAWATCH_HTTP_HOST"] == "0.0.0.0"  # Prometheus scrapes it


def test_published_ports_are_loopback_only():
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_health_checks_and_startup_order():
    services = compose()["services"]
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health, which is never reported"
            else:
                assert condition == "service_completed_successfully", (name, dep, condition)
                assert services[dep].get("restart") == "no", f"{dep} is waited for as a one-shot job"
    for name in SLAWATCH_SERVICES:
        assert services[name]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert services["sink"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"


def test_named_volumes_are_declared_and_used():
    doc = compose()
    used = {v.split(":")[0] for svc in doc["services"].values() for v in svc.get("volumes", [])
            if isinstance(v, str) and not v.startswith((".", "/"))}
    assert used == set(doc["volumes"])
    for name in ("kafka", "clickhouse", "prometheus", "alertmanager", "grafana"):
        assert any(not v.startswith((".", "/")) for v in doc["services"][name]["volumes"]), name


def test_kafka_init_creates_every_topic_the_pipeline_uses():
    svc = compose()["services"]["kafka-init"]
    script = svc["command"][0]
    created = re.findall(r'^\s*create ("?[^\s"]+"?)', script, re.M)
    defaults = Settings(_env_file=None)
    app_id = re.match(r"\$\{SLAWATCH_APP_ID:-([^}]+)\}", svc["environment"]["APP_ID"]).group(1)
    expected = {defaults.conversations_topic, defaults.tickets_topic, defaults.dead_letter_topic,
                defaults.sla_events_topic, defaults.metrics_topic,
                changelog_topic(Settings(_env_file=None, app_id=app_id))}
    names = {c.strip('"').replace("$$APP_ID", app_id) for c in created}
    assert names == expected
    assert "cleanup.policy=compact" in next(line for line in script.splitlines() if "changelog" in line)
    assert compose()["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def _parse_cli(args: list[str], env: dict, monkeypatch) -> None:
    """Parse `slawatch ARGS` as click would in the container (options, env vars), without running."""
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    group = typer.main.get_command(app)
    ctx = click.Context(group, info_name="slawatch")
    cmd = group.get_command(ctx, args[0])
    assert cmd is not None, f"unknown command {args[0]!r}"
    cmd.make_context(args[0], list(args[1:]), parent=ctx)


@pytest.mark.parametrize("service", SLAWATCH_SERVICES)
def test_slawatch_containers_run_real_commands(service, monkeypatch):
    svc = compose()["services"][service]
    assert svc["build"] == "." and svc["image"] == "slawatch:local"
    env = {k: re.sub(r"\$\{[A-Z0-9_]+:[-?]([^}]*)\}", r"\1", str(v)) for k, v in svc["environment"].items()}
    _parse_cli(svc["command"], env, monkeypatch)
    # The settings the container would start with are valid.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Settings(_env_file=None)


def test_sink_talks_to_clickhouse_as_the_writer_user():
    env = compose()["services"]["sink"]["environment"]
    assert env["SLAWATCH_CLICKHOUSE_DSN"] == "http://clickhouse:8123/slawatch"
    assert env["SLAWATCH_CLICKHOUSE_USER"] == "slawatch"
    ch = compose()["services"]["clickhouse"]["environment"]
    assert env["SLAWATCH_CLICKHOUSE_PASSWORD"] == ch["CLICKHOUSE_WRITER_PASSWORD"]
    assert compose()["services"]["grafana"]["environment"]["GF_CLICKHOUSE_PASSWORD"] == ch["CLICKHOUSE_GRAFANA_PASSWORD"]


def test_dockerfile_rules_paths_exist_in_the_image():
    text = DOCKERFILE.read_text()
    assert "COPY rules ./rules" in text and "WORKDIR /app" in text
    for var, path in re.findall(r"(SLAWATCH_[A-Z_]+)=(/app/\S+)", text):
        assert (ROOT / path.removeprefix("/app/")).is_file(), f"{var}={path} is not copied into the image"
    assert "USER slawatch" in text  # not root


def _lay_out(service: str, tmp_path):
    """Copy a service's bind mounts to tmp_path + their container paths."""
    for src, target in bind_mounts(compose()["services"][service]):
        dest = tmp_path / target.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = COMPOSE.parent / src
        if source.is_dir():
            shutil.copytree(source, dest)
        else:
            shutil.copy(source, dest)


def test_prometheus_config_passes_promtool_with_the_mounted_rules(tmp_path):
    _lay_out("prometheus", tmp_path)
    config = tmp_path / "etc" / "prometheus" / "prometheus.yml"
    proc = subprocess.run([require_binary("promtool"), "check", "config", str(config)],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    found = re.search(r"SUCCESS: (\d+) rules found", out)
    assert found and int(found.group(1)) > 10, f"the alert rules were not loaded:\n{out}"


def test_prometheus_scrapes_the_ports_the_services_listen_on():
    import yaml

    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    services = compose()["services"]
    worker = jobs["slawatch"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"]
    assert str(worker["port"]) == services["worker"]["environment"]["SLAWATCH_HTTP_PORT"]
    assert jobs["slawatch-sink"]["static_configs"][0]["targets"] == [
        f"sink:{services['sink']['environment']['SLAWATCH_SINK_HTTP_PORT']}"]


def test_alertmanager_config_as_mounted_passes_amtool(tmp_path):
    _lay_out("alertmanager", tmp_path)
    config = tmp_path / "etc" / "alertmanager" / "alertmanager.yml"
    proc = subprocess.run([require_binary("amtool"), "check-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
