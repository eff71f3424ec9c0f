"""Static checks of the monitoring config with the real tools: `promtool check rules`,
`promtool test rules` (unit tests in rules/prometheus/slawatch.rules.test.yml) and
`amtool check-config` plus the severity routing of rules/alertmanager/alertmanager.yml."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from . import ALERTMANAGER_CONFIG, PROM_RULES_DIR, ROOT, RULES, RULES_TEST, require_binary

RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/slawatch/slawatch/blob/main/docs/runbook.md#"
SEVERITIES = {"page", "warning", "ticket"}
EXPECTED_ALERTS = {
    "SLABreachRateHigh", "TicketsBreaching", "OldestWaitOverTarget", "NoEvents",
    "WatermarkLagHigh", "DeadLetterRateHigh", "SinkFailing", "SinkOutage", "WorkerDown",
    "QASamplingStalled",
}


def run(*cmd: str, cwd=ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def alert_rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules():
    out = run(require_binary("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS" in out.stdout + out.stderr


def test_promtool_test_rules():
    # Run from the rules directory: the test file names its rule file relative to itself.
    out = run(require_binary("promtool"), "test", "rules", RULES_TEST.name, cwd=PROM_RULES_DIR)
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_has_severity_annotations_and_runbook_section():
    rules = alert_rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    anchors = {m.lower() for m in re.findall(r"^## (\w+)\s*$", RUNBOOK.read_text(), re.M)}
    for r in rules:
        name = r["alert"]
        assert r["labels"]["severity"] in SEVERITIES, name
        assert set(r["annotations"]) >= {"summary", "description", "runbook_url"}, name
        assert r["annotations"]["runbook_url"] == RUNBOOK_URL + name.lower(), name
        assert name.lower() in anchors, f"docs/runbook.md has no '## {name}' section"


def test_every_alert_is_unit_tested():
    doc = yaml.safe_load(RULES_TEST.read_text())
    tested = {t["alertname"] for group in doc["tests"] for t in group.get("alert_rule_test", [])}
    fired = {t["alertname"] for group in doc["tests"] for t in group.get("alert_rule_test", [])
             if t.get("exp_alerts")}
    assert tested == EXPECTED_ALERTS
    assert fired == EXPECTED_ALERTS


def test_amtool_check_config():
    out = run(require_binary("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert "SUCCESS" in out.stdout + out.stderr


@pytest.mark.parametrize("labels, receiver", [
    (["severity=page", "alertname=TicketsBreaching", "channel=email"], "pager"),
    (["severity=warning", "alertname=SLABreachRateHigh", "channel=web"], "chat"),
    (["severity=ticket", "alertname=DeadLetterRateHigh"], "chat"),
    (["alertname=SomethingWithoutSeverity"], "chat"),
])
def test_alertmanager_routes_by_severity(labels, receiver):
    run(require_binary("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}", *labels)
