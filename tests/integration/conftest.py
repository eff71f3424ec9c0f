"""Fixtures for tests against a real Kafka-protocol broker (embedded tansu, see streams/broker.py).

Nothing here is skipped: if the broker cannot start, the fixture raises and every
test that needs it errors loudly. Under pytest-xdist each worker process gets its
own broker (session scope is per process); topic names are unique per test anyway.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from streams import tansu_compat
from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    # Client-side fix for tansu's short ListOffsets(LATEST) answers; tests that show
    # the bug switch it off locally (test_broker.py).
    tansu_compat.enable()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test uses: ``<test name>-<random>`` in Kafka's topic alphabet."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40]
    return f"{name}-{uuid.uuid4().hex[:8]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the numbers tests recorded with ``record_property("measure:...", value)``.

    user_properties travel with the test reports, so this also works under xdist.
    """
    lines = []
    for report in terminalreporter.stats.get("passed", []):
        for key, value in getattr(report, "user_properties", []):
            if key.startswith("measure:"):
                shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
                lines.append(f"{key[len('measure:'):]:<48} {shown}")
    if lines:
        terminalreporter.section("integration measurements")
        for line in sorted(lines):
            terminalreporter.write_line(line)
