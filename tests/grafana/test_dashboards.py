"""The committed dashboards are exactly what grafana/build.py generates, are valid Grafana 11.6
dashboards (JSON Schema from @grafana/schema, tests/grafana/schema/), survive a round trip
through the grafana-foundation-sdk models, and are wired to the provisioned data sources and
folders."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml

from .dashboards import CLICKHOUSE_TYPE, DASHBOARD_FILES, GRAFANA, ROOT, load, panels, targets, variables

SCHEMA = json.loads((ROOT / "tests" / "grafana" / "schema" / "dashboard.schema.json").read_text())
PROVISIONING = GRAFANA / "provisioning"
# Where docker-compose.yml mounts grafana/dashboards inside the Grafana container.
CONTAINER_DASHBOARDS = "/var/lib/grafana/dashboards"
IDS = [p.name for p in DASHBOARD_FILES]


def test_five_dashboards_in_two_audience_folders():
    assert {p.relative_to(GRAFANA / "dashboards").as_posix() for p in DASHBOARD_FILES} == {
        "supervisors/slawatch-supervisor.json", "supervisors/slawatch-sla-breaches.json",
        "supervisors/slawatch-agents.json", "supervisors/slawatch-pipeline.json",
        "qa/slawatch-qa.json"}


def test_committed_json_is_the_builder_output():
    from grafana import build

    generated = build.outputs()
    assert sorted(generated) == DASHBOARD_FILES
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} differs from grafana/build.py's output: run python grafana/build.py")


def test_build_script_check_mode():
    """`python grafana/build.py --check` (as a script, from any directory) agrees."""
    run = subprocess.run([sys.executable, str(GRAFANA / "build.py"), "--check"], cwd="/",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=IDS)
def test_valid_against_grafana_dashboard_schema(path):
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(load(path)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:20])


def test_schema_rejects_what_grafana_would_not_read():
    """The schema is strict enough to matter: a misspelt key or a wrong type fails."""
    d = load(DASHBOARD_FILES[0])
    validator = jsonschema.Draft7Validator(SCHEMA)
    assert not list(validator.iter_errors(d))
    for broken in ({**d, "refreshh": "5s"}, {**d, "panels": [{**d["panels"][0], "gridPos": {"h": "9"}}]},
                   {**d, "schemaVersion": "41"}):
        assert list(validator.iter_errors(broken))


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=IDS)
def test_sdk_round_trip_loses_nothing(path):
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    from grafana.clickhouse_query import ClickHouseQuery

    register_default_plugins()
    original = load(path)
    model = Dashboard.from_json(original)
    # ClickHouse targets decode into the typed model, not the SDK's untyped fallback.
    decoded = [t for p in model.panels or [] for t in getattr(p, "targets", None) or []]
    assert any(isinstance(t, ClickHouseQuery) for t in decoded) == (CLICKHOUSE_TYPE in path.read_text())
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == original


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=IDS)
def test_panels_are_laid_out_and_numbered(path):
    d = load(path)
    ps = list(panels(d))
    assert [p["id"] for p in ps] == list(range(1, len(ps) + 1))
    cells = set()
    for p in ps:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        assert p.get("title") and p.get("targets"), p


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=IDS)
def test_every_variable_a_query_uses_is_defined(path):
    d = load(path)
    defined = {v["name"] for v in variables(d)}
    for label, t in targets(d):
        text = t.get("rawSql") or t.get("expr") or ""
        used = {m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text)}
        assert {u for u in used if not u.startswith("__")} <= defined, label


# ------------------------------------------------------------------------------ provisioning
def _yaml(name: str) -> dict:
    return yaml.safe_load((PROVISIONING / name).read_text())


def test_datasources_provisioned_with_fixed_uids_and_no_secrets():
    sources = {d["uid"]: d for d in _yaml("datasources/datasources.yml")["datasources"]}
    assert set(sources) == {"prometheus", "clickhouse"}
    prom, ch = sources["prometheus"], sources["clickhouse"]
    assert (prom["type"], prom["url"]) == ("prometheus", "http://prometheus:9090")
    assert ch["type"] == CLICKHOUSE_TYPE
    assert (ch["jsonData"]["host"], ch["jsonData"]["port"], ch["jsonData"]["protocol"]) == ("clickhouse", 8123, "http")
    # Credentials only through Grafana's environment.
    assert ch["jsonData"]["username"] == "${GF_CLICKHOUSE_USER}"
    assert ch["secureJsonData"] == {"password": "${GF_CLICKHOUSE_PASSWORD}"}


def test_every_panel_and_variable_datasource_is_provisioned():
    provisioned = {(d["type"], d["uid"]) for d in _yaml("datasources/datasources.yml")["datasources"]}
    used = set()
    for path in DASHBOARD_FILES:
        d = load(path)
        for p in panels(d):
            if p.get("datasource"):
                used.add((p["datasource"]["type"], p["datasource"]["uid"]))
        for _, t in targets(d):
            used.add((t["datasource"]["type"], t["datasource"]["uid"]))
        for v in variables(d):
            if v.get("datasource"):
                used.add((v["datasource"]["type"], v["datasource"]["uid"]))
    assert used == provisioned


def test_dashboard_providers_load_each_folder_of_the_dashboards_dir():
    providers = _yaml("dashboards/dashboards.yml")["providers"]
    by_folder = {p["folder"]: p for p in providers}
    assert set(by_folder) == {"Supervisors", "QA"}
    dashboard_uids = {load(p)["uid"] for p in DASHBOARD_FILES}
    for folder, sub in (("Supervisors", "supervisors"), ("QA", "qa")):
        p = by_folder[folder]
        assert p["type"] == "file"
        assert p["options"]["path"] == f"{CONTAINER_DASHBOARDS}/{sub}"
        assert (GRAFANA / "dashboards" / sub).is_dir() and any((GRAFANA / "dashboards" / sub).glob("*.json"))
        assert p["folderUid"] not in dashboard_uids  # one uid space for folders and dashboards
    assert len({p["folderUid"] for p in providers}) == len(providers)


def test_dashboard_uids_are_unique_and_links_point_at_real_dashboards():
    ds = [load(p) for p in DASHBOARD_FILES]
    uids = {d["uid"] for d in ds}
    assert len(uids) == len(ds)
    text = "\n".join(p.read_text() for p in DASHBOARD_FILES)
    for uid in re.findall(r"/d/([\w-]+)/", text):
        assert uid in uids
