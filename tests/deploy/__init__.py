"""Deployment tests: the compose stack's files checked with the real tools that run here
(check-jsonschema's compose-spec schema, promtool, amtool, chdb). Docker itself is not available
on these machines, so the stack is never started by a test (docs/production.md)."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CLICKHOUSE_USERS = ROOT / "deploy" / "clickhouse" / "users.d" / "slawatch.xml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(host path relative to the compose file, container path) of a service's bind mounts."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                out.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out.append((source, target))
    return out
