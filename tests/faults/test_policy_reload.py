"""Policy reload on a real worker subprocess (streams/policy_reload.py; semantics in
docs/reliability.md):
- a valid new file, noticed by the file watch, takes effect at once: a running clock continues
  under the new target (elapsed time kept, breach at the right instant), a new entity gets it;
- an invalid file, signalled with SIGHUP, changes nothing: the worker keeps running on the
  previous policies and reports the refusal (log line with file, key and line; metrics;
  /status);
- the re-match rules themselves, on the engine, in-process.
"""
from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import datetime, timedelta, timezone

import orjson

from streams.core import PURE_ENV, built_module
from streams.core.build import MODULES
from streams.core.engine import SlaEngine
from streams.core.events import decode_event
from streams.core.policy import load_policies_text
from streams.core.timeutil import US, to_us
from streams.policy_reload import LoadedPolicies, rematch
from tests.integration.test_live_pipeline import Worker, consume_all, produce

from .harness import get_text, metric, until, wait_assigned

V1 = """version: "1"
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 1h}}
"""
V2 = """version: "2"
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 4s}}
"""
BROKEN = """version: "3"
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 2 seconds}}
"""


def started(conv: str, at: datetime | None = None) -> dict:
    return {"event_id": uuid.uuid4().hex, "type": "conversation.started",
            "occurred_at": (at or datetime.now(timezone.utc)).isoformat(),
            "conversation_id": conv, "channel": "web", "customer_id": "u"}


def breaches(broker, w) -> dict[str, dict]:
    recs = asyncio.run(consume_all(broker, w.topics["sla.events"], idle_s=0.3))
    return {r["entity_id"]: r for r in recs if r["status"] == "breached"}


def test_valid_reload_applies_and_invalid_reload_keeps_the_running_policy(broker, tmp_path):
    rules = tmp_path / "sla.yaml"
    rules.write_text(V1)
    w = Worker(broker, tmp_path, rules=rules).start()
    try:
        wait_assigned(w, 8)
        status = w.status()
        assert status["policy"]["version"] == "1"
        # The worker says whether its SLA core runs compiled (streams/core/build.py).
        compiled = not os.environ.get(PURE_ENV)
        expected = sorted(m for m in MODULES if built_module(m) is not None) if compiled else []
        assert status["core"]["compiled"] == expected
        assert status["core"]["why"]
        t_before = datetime.now(timezone.utc)
        asyncio.run(produce(broker, w, [started("c-before", t_before)]))
        until(lambda: w.status()["totals"]["events"] == 1, 30, "the first event")

        rules.write_text(V2)                       # noticed by the file watch, no signal
        st = until(lambda: (s := w.status())["policy"]["version"] == "2" and s, 30, "the reload")
        assert st["policy"]["reloads"] == 1 and st["policy"]["last_error"] is None
        asyncio.run(produce(broker, w, [started("c-after")]))
        got = until(lambda: (b := breaches(broker, w)).keys() >= {"c-before", "c-after"} and b, 30,
                    "breaches under the new 4 s target")
        before = got["c-before"]
        # The running clock kept its elapsed time: it breached once 4 s had elapsed since its
        # start (or at the reload instant, had the reload come later than that).
        assert before["target_seconds"] == 4 and before["policy"] == "chat"
        at = datetime.fromisoformat(before["at"].replace("Z", "+00:00"))
        assert at - t_before == timedelta(seconds=before["elapsed_seconds"]) >= timedelta(seconds=4)
        assert got["c-after"]["target_seconds"] == 4 and got["c-after"]["elapsed_seconds"] == 4

        rules.write_text(BROKEN)
        w.proc.send_signal(signal.SIGHUP)          # the signal path (the watch would see it too)
        st = until(lambda: (s := w.status())["policy"]["failures"] >= 1 and s, 30, "the refusal")
        assert w.proc.poll() is None
        assert st["policy"]["version"] == "2"
        error = st["policy"]["last_error"]
        assert str(rules) in error and "policies[0].targets.first_response.within (line 5)" in error
        text = get_text(f"http://127.0.0.1:{w.port}/metrics")
        assert metric(text, "slawatch_policy_reload_failures_total") >= 1
        assert metric(text, "slawatch_policy_last_reload_success") == 0
        assert 'slawatch_policy_info{sha256="' in text and 'version="2"' in text
        asyncio.run(produce(broker, w, [started("c-during")]))   # still measured under v2
        got = until(lambda: "c-during" in (b := breaches(broker, w)) and b, 30, "a breach under v2")
        assert got["c-during"]["target_seconds"] == 4

        rules.write_text(V1)                       # fixed: the next change is applied again
        st = until(lambda: (s := w.status())["policy"]["version"] == "1" and s, 30, "the recovery")
        assert st["policy"]["last_error"] is None
        assert metric(get_text(f"http://127.0.0.1:{w.port}/metrics"), "slawatch_policy_last_reload_success") == 1
    finally:
        w.stop()
    log = w.log.read_text()
    assert "policy reload refused" in log and "(line 5)" in log and "invalid duration '2 seconds'" in log


RULES_A = """policies:
  - name: vip
    match: {kind: ticket, customer_tier: vip}
    targets: {first_response: {within: 10m}, resolution: {within: 1h}}
  - name: std
    match: {kind: ticket}
    targets: {first_response: {within: 1h}, resolution: {within: 8h}}
"""
# vip now 2 min first response and an assignment target, no resolution target; std unchanged
RULES_B = """policies:
  - name: vip
    match: {kind: ticket, customer_tier: vip}
    targets: {first_response: {within: 2m}, assignment: {within: 30m}}
  - name: std
    match: {kind: ticket}
    targets: {first_response: {within: 1h}, resolution: {within: 8h}}
"""


def test_reload_is_the_contracts_rematch_for_every_open_entity():
    a, b = (LoadedPolicies(load_policies_text(t), t) for t in (RULES_A, RULES_B))
    engine = SlaEngine(a.policies)
    t0 = to_us(datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc))
    for tid, tier in (("T-vip", "vip"), ("T-std", "regular")):
        ev = decode_event(orjson.dumps({"event_id": tid, "type": "ticket.created", "occurred_at": "2026-11-02T10:00:00Z",
                                        "ticket_id": tid, "channel": "email", "priority": "normal", "category": "billing",
                                        "customer_id": "u", "customer_tier": tier}))
        engine.apply(ev, t0)
    std_clock = engine.entity("ticket", "T-std").first_response
    engine.advance(t0 + 5 * 60 * US)
    assert rematch(engine, a, b, engine.now) == 1            # only the vip ticket changed
    engine.advance(t0 + 3600 * US)
    recs = [(r.entity_id, r.metric, r.status, r.at_us - t0, r.target_us) for r in engine.drain()]
    # vip: 5 min elapsed > new 2 min target: breached at the reload instant; resolution
    # cancelled (the new policy lacks it); assignment starts from the ticket's start and
    # breaches 30 min after it.
    assert ("T-vip", "first_response", "breached", 5 * 60 * US, 120 * US) in recs
    assert ("T-vip", "resolution", "cancelled", 5 * 60 * US, 3600 * US) in recs
    assert ("T-vip", "assignment", "breached", 30 * 60 * US, 30 * 60 * US) in recs
    assert not [r for r in recs if r[0] == "T-std"]
    # the unchanged policy's running clock is the same clock, now on the new objects
    assert engine.entity("ticket", "T-std").first_response is std_clock
    assert std_clock.policy is b.policies.get("std")
