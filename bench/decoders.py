"""Benchmark for a stack proposal (issues 2/3): the event decoder's cost.

The same generated lines decoded by `orjson.loads` (baseline), by the project's pydantic
`decode_event`, and by msgspec Structs carrying the same constraints (tagged union on `type`,
lengths, literals, score 1-5, timezone-aware timestamps), in the same run; medians of 5.
msgspec is not a dependency of slawatch: `pip install msgspec` into the venv first.
Run:  .venv/bin/python bench/decoders.py
"""
import gc
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import orjson

try:
    import msgspec
except ImportError:
    sys.exit("bench/decoders.py compares against msgspec: .venv/bin/pip install msgspec")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streams.core.events import decode_event
from streams.generator import GeneratorConfig, generate

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
EvId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Chan = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
TS = Annotated[datetime, msgspec.Meta(tz=True)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
Role = Literal["customer", "agent", "bot", "system"]
Tier = Literal["vip", "regular", "new"]
Prio = Literal["low", "normal", "high", "urgent"]
kw = dict(tag_field="type", frozen=True, forbid_unknown_fields=False)

class B(msgspec.Struct, **kw):
    event_id: EvId
    occurred_at: TS
class C(B, **kw):
    conversation_id: Id
class T(B, **kw):
    ticket_id: Id
class CS(C, tag="conversation.started", **kw):
    channel: Chan = ""; customer_id: str = ""; customer_tier: Optional[Tier] = "regular"; queue: Optional[str] = None; language: Optional[str] = None
class CM(C, tag="conversation.message", **kw):
    message_id: str = ""; author_role: Role = "customer"; text: str = ""; author_id: Optional[str] = None
class CA(C, tag="conversation.assigned", **kw):
    agent_id: str = ""; queue: Optional[str] = None
class CT(C, tag="conversation.transferred", **kw):
    from_agent_id: Optional[str] = None; to_agent_id: Optional[str] = None; to_queue: Optional[str] = None
class CE(C, tag="conversation.ended", **kw):
    outcome: Literal["resolved", "unresolved", "abandoned", "timeout"] = "resolved"
class CR(C, tag="conversation.rated", **kw):
    score: Score = 5; comment: Optional[str] = None
class TC(T, tag="ticket.created", **kw):
    channel: Chan = ""; priority: Prio = "normal"; category: str = ""; customer_id: str = ""; customer_tier: Optional[Tier] = "regular"; conversation_id: Optional[str] = None; group: Optional[str] = None
class TA(T, tag="ticket.assigned", **kw):
    assignee_id: str = ""; group: Optional[str] = None
class TS_(T, tag="ticket.status_changed", **kw):
    status: Literal["new", "open", "pending", "on_hold", "solved", "closed"] = "open"
class TCm(T, tag="ticket.comment", **kw):
    author_role: Role = "customer"; public: bool = True; text: str = ""; author_id: Optional[str] = None
class TP(T, tag="ticket.priority_changed", **kw):
    priority: Prio = "normal"
class TR(T, tag="ticket.rated", **kw):
    score: Score = 5; comment: Optional[str] = None

dec = msgspec.json.Decoder(Union[CS, CM, CA, CT, CE, CR, TC, TA, TS_, TCm, TP, TR])
lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=3, days=3))]
for l in lines[:2000]:
    a, b = decode_event(l), dec.decode(l)
    assert a.type == type(b).__struct_config__.tag and a.occurred_at == b.occurred_at
def rate(fn):
    gc.collect(); t = time.perf_counter(); fn(); return len(lines) / (time.perf_counter() - t)
res = {"orjson.loads": [], "pydantic decode_event": [], "msgspec Structs": []}
for _ in range(5):
    res["orjson.loads"].append(rate(lambda: [orjson.loads(l) for l in lines]))
    res["pydantic decode_event"].append(rate(lambda: [decode_event(l) for l in lines]))
    res["msgspec Structs"].append(rate(lambda: [dec.decode(l) for l in lines]))
print(f"events: {len(lines):,}, runs: 5 (medians)")
base = statistics.median(res["orjson.loads"])
for k, v in res.items():
    m = statistics.median(v); print(f"  {k:24} {m:>12,.0f} events/s  {m / base:.2f}x orjson.loads  {1e6 / m:.2f} us/event")
