"""deploy/clickhouse/users.d/slawatch.xml: Grafana's ClickHouse user is read-only, the writer is
confined to the slawatch database, and no password is written in the file.

No ClickHouse server binary is available here and chdb cannot load a users file (it ignores
config-file/users_config), so the proof has two halves: the XML says the grafana user gets the
grafana_readonly profile and only SELECT, and that profile's settings, applied to a real
ClickHouse engine (chdb) holding slawatch's migrated tables, let SELECT through and refuse every
write, DDL statement and attempt to lift the read-only mode."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from . import CLICKHOUSE_USERS, ROOT, compose


def users_xml() -> ET.Element:
    return ET.parse(CLICKHOUSE_USERS).getroot()


def user(name: str) -> ET.Element:
    found = users_xml().find(f"users/{name}")
    assert found is not None, f"no user {name!r} in {CLICKHOUSE_USERS.name}"
    return found


def profile_settings(name: str) -> dict[str, str]:
    profile = users_xml().find(f"profiles/{name}")
    assert profile is not None, f"no profile {name!r}"
    return {child.tag: (child.text or "").strip() for child in profile if child.tag != "constraints"}


def grants(name: str) -> list[str]:
    return [q.text.strip() for q in user(name).findall("grants/query")]


def test_grafana_user_is_readonly_with_select_only():
    grafana = user("grafana")
    assert grafana.findtext("profile") == "grafana_readonly"
    assert profile_settings("grafana_readonly")["readonly"] == "1"
    assert grants("grafana") == ["GRANT SELECT ON slawatch.*"]
    # The Grafana plugin's client sets max_execution_time on each query: allowed, bounded.
    constraint = users_xml().find("profiles/grafana_readonly/constraints/max_execution_time")
    assert constraint is not None and constraint.find("changeable_in_readonly") is not None
    assert int(constraint.findtext("max")) <= 600


def test_writer_is_confined_to_the_slawatch_database():
    assert grants("slawatch") == ["GRANT ALL ON slawatch.*"]
    assert user("slawatch").findtext("profile") == "default"


def test_default_user_is_local_only():
    ips = [ip.text for ip in user("default").findall("networks/ip")]
    assert sorted(ips) == ["127.0.0.1", "::1"]
    assert user("default").find("networks").get("replace") == "replace"


def test_passwords_come_from_the_environment_compose_provides():
    env = compose()["services"]["clickhouse"]["environment"]
    for name in ("slawatch", "grafana"):
        password = user(name).find("password")
        assert password is not None and not (password.text or "").strip(), f"{name}: literal password"
        assert password.get("from_env") in env, f"{name}: compose does not set {password.get('from_env')}"
    for element in users_xml().iter():
        if element.tag.startswith("password"):
            assert not (element.text or "").strip(), f"a literal <{element.tag}> in the users file"


# Runs in its own process: chdb holds one engine per process (and one process per directory).
_PROBE = r"""
import json, sys
from chdb import session
from sinks.clickhouse import ClickHouseSink, TABLES

path, settings = sys.argv[1], json.loads(sys.argv[2])
with ClickHouseSink(f"chdb://{path}") as sink:
    sink.connect().migrate()
    sink.client.command("INSERT INTO metric_windows (window_id, source_partition, window_start, "
                        "window_seconds, entity_kind) VALUES ('w1', 0, now(), 60, 'conversation')")
# The grafana profile's settings, as the server would apply them at login.
s = session.Session(path + "?" + "&".join(f"{k}={v}" for k, v in settings.items()))
out = {"settings": s.query("SELECT getSetting('readonly'), getSetting('max_execution_time')", "CSV").data().strip(),
       "tables": {}, "refused": {}}
for table in TABLES:
    out["tables"][table] = s.query(f"SELECT count() FROM {table}", "CSV").data().strip()
for sql in ["INSERT INTO metric_windows (window_id, source_partition, window_start, window_seconds, entity_kind) VALUES ('w2', 0, now(), 60, 'x')",
            "CREATE TABLE evil (x Int8) ENGINE = Memory",
            "DROP TABLE sla_records",
            "TRUNCATE TABLE metric_windows",
            "ALTER TABLE sla_records DELETE WHERE 1",
            "OPTIMIZE TABLE metric_windows FINAL",
            "SET readonly = 0",
            "SELECT 1 SETTINGS readonly = 0"]:
    try:
        s.query(sql)
        out["refused"][sql] = None
    except Exception as exc:
        out["refused"][sql] = str(exc)
out["after"] = s.query("SELECT count() FROM metric_windows", "CSV").data().strip()
s.close()
print(json.dumps(out))
"""


def test_grafana_profile_refuses_writes_on_a_real_engine(tmp_path):
    settings = profile_settings("grafana_readonly")
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "ch"), json.dumps(settings)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["settings"] == f"1,{settings['max_execution_time']}"
    # Every history table (and the breaches view) is readable.
    assert out["tables"]["metric_windows"] == "1"
    assert set(out["tables"]) >= {"sla_records", "sla_breaches", "metric_windows", "qa_samples"}
    for sql, error in out["refused"].items():
        assert error is not None, f"read-only profile allowed: {sql}"
        assert "READONLY" in error or "readonly" in error, f"{sql}: {error}"
    assert out["after"] == "1", "a refused statement still changed the data"


@pytest.mark.parametrize("statement", ["INSERT", "CREATE", "DROP", "ALTER"])
def test_grafana_grant_names_no_write_privilege(statement):
    assert not any(statement in g for g in grants("grafana"))
