"""The committed dashboards and their queries, as the tests walk them."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").rglob("*.json"))
CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, including those inside (collapsed) rows."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def targets(dashboard: dict) -> Iterator[tuple[str, dict]]:
    """(panel title / refId, target) of every panel query, with the target's data source."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            ds = t.get("datasource") or p.get("datasource") or {}
            yield f"{dashboard['uid']}: {p.get('title')} / {t.get('refId')}", {**t, "datasource": ds}


def variables(dashboard: dict) -> list[dict]:
    return dashboard.get("templating", {}).get("list", [])


def queries_of(datasource_type: str) -> list[tuple[str, dict, dict]]:
    """(label, dashboard, target) for every panel query and query variable of that type."""
    out = []
    for f in DASHBOARD_FILES:
        d = load(f)
        for label, t in targets(d):
            if t["datasource"].get("type") == datasource_type:
                out.append((label, d, t))
        for v in variables(d):
            if v.get("type") == "query" and (v.get("datasource") or {}).get("type") == datasource_type:
                out.append((f"{d['uid']}: variable {v['name']}", d, {"rawSql": v["query"], "expr": v["query"]}))
    return out
