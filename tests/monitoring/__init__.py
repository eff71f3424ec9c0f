"""Monitoring tests: Prometheus rules, Alertmanager config, and the alert pipeline run on the
real Debian `prometheus` / `prometheus-alertmanager` binaries (scripts/install-system.sh)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROM_RULES_DIR = ROOT / "rules" / "prometheus"
RULES = PROM_RULES_DIR / "slawatch.rules.yml"
RULES_TEST = PROM_RULES_DIR / "slawatch.rules.test.yml"
ALERTMANAGER_CONFIG = ROOT / "rules" / "alertmanager" / "alertmanager.yml"


def require_binary(*names: str) -> str:
    """Path of the first of `names` on PATH; fails the test (never skips) when none is there.
    Debian installs Alertmanager as `prometheus-alertmanager`, upstream as `alertmanager`."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        f"{' / '.join(names)} not found on PATH. The monitoring tests need Prometheus and "
        "Alertmanager (promtool, prometheus, alertmanager, amtool): run "
        "`bash scripts/install-system.sh` (installs the Debian prometheus and "
        "prometheus-alertmanager packages).",
        pytrace=False,
    )
