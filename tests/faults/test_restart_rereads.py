"""After a crash the worker reads again from the committed offset (the oldest event still held
for ordering), so it also re-reads events that were applied before the crash at larger offsets.
Those the restored entities have among their event ids are skipped as duplicates; but an event
that changed nothing the first time (it preceded its entity's start) is in no entity's ids, and
re-read late it used to be applied to the restored entity. Found by the ten-kills test
(test_kill_worker.py); here the same sequence, driven through the processors deterministically,
with the state passed through the same bytes the changelog carries."""
from __future__ import annotations

import orjson

from streams.core.policy import load_policies_text
from streams.core.state import load_entity
from streams.core.timeutil import US, format_us
from streams.processor import PartitionProcessor

RULES = """
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 60s}}
"""
T0 = 1_790_000_000 * US
WALL = T0 + 86_400 * US


def ev(eid: str, typ: str, t: int, conv: str, **kw) -> bytes:
    return orjson.dumps({"event_id": eid, "type": f"conversation.{typ}", "occurred_at": format_us(t),
                         "conversation_id": conv, **kw})


STREAM = [
    ev("x", "started", T0 + 5 * US, "D", channel="web", customer_id="u2"),  # held when it crashes
    # an agent message one second before its conversation starts: changes nothing (replay: orphan)
    ev("m", "message", T0 - US, "C", message_id="m1", author_role="agent", author_id="A1", text="hi"),
    ev("s", "started", T0, "C", channel="web", customer_id="u1"),
    ev("y", "started", T0 + 13 * US, "E", channel="web", customer_id="u3"),
]


def processor(policies) -> PartitionProcessor:
    return PartitionProcessor("conv", 0, "conversation", policies, lateness_us=10 * US,
                              idle_after_us=US, future_skew_us=300 * US)


def test_an_event_that_changed_nothing_stays_so_when_read_again_after_a_crash():
    policies = load_policies_text(RULES)
    first = processor(policies)
    for offset, raw in enumerate(STREAM):
        first.ingest(offset, raw, WALL)
    first.tick(WALL)                      # watermark T0 + 3 s: "m" (orphan) and "s" applied
    out = first.drain()
    assert first.sequencer.oldest_held_seq() == 0   # the committed offset stays at "x"
    changelog = {k: v for k, v in out.states.items() if v is not None}
    clock = first.clock_state()
    # crash; a new worker restores the partition and reads from offset 0 again
    second = processor(policies)
    second.restore_clock(clock, WALL + US)
    second.engine.restore(load_entity(v, second.engine) for v in changelog.values())
    for offset, raw in enumerate(STREAM):
        second.ingest(offset, raw, WALL + US)
    second.tick(WALL + US)
    records = second.drain().records
    assert [r for r in records if r.entity_id == "C"] == []   # no "achieved" from the orphan
    assert second.counts["reread"] == 2                        # "m" and "s" skipped as done
    assert second.engine.entity("conversation", "C").first_response.state == 0  # still running
