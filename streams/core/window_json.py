"""A closed metric-window cell as the message the live worker publishes (`sla.metric-windows`).

The message is `{window_id, window_start, window_seconds, source_partition, <the 7 dims>,
**WindowAggregate.to_dict()}` (README, "Outputs"): `to_dict` is the definition, this module the
fast way to produce the same JSON. At one team's load the worker closes about one cell per four
input events, and building the nested dicts of `to_dict` for `orjson` cost more than the SLA
engine's work on the event (bench/processor.py). Here:
- the message is a msgspec Struct, encoded in C without a dict per cell;
- the parts most cells share are encoded once: an empty time summary (two thirds of the cells
  have no first response or no resolution) and an empty CSAT block go in as `msgspec.Raw`.
Tested equal to the `to_dict` form (tests/core/test_window_json.py).
"""
from __future__ import annotations

from typing import Any, Optional

import msgspec
import orjson

from .metrics import WindowAggregate, _empty_summary, _sketch_summary, sla_by_metric, window_id
from .timeutil import format_us

__all__ = ["window_message"]


class _WindowJson(msgspec.Struct, gc=False):
    window_id: str
    window_start: str
    window_seconds: int
    source_partition: int
    entity_kind: str
    channel: Optional[str]
    queue: Optional[str]
    priority: Optional[str]
    customer_tier: Optional[str]
    category: Optional[str]
    agent_id: Optional[str]
    started: int
    first_responses: int
    responded_within_target: int
    abandoned: int
    resolved: int
    reopened: int
    first_response_seconds: Any
    resolution_seconds: Any
    sla: dict
    csat: Any
    late_events: int


_encode = msgspec.json.Encoder().encode
_EMPTY_SUMMARY = msgspec.Raw(orjson.dumps(_empty_summary(True)))
_EMPTY_CSAT = msgspec.Raw(b'{"count":0,"sum":0,"hist":[0,0,0,0,0]}')


def window_message(start: int, dims: tuple, agg: WindowAggregate,
                   source_partition: int) -> tuple[bytes, bytes]:
    """(key, value) of one closed cell. Each input partition emits its own partial cell;
    `source_partition` lets the ClickHouse sink add partials up and replace re-emitted ones."""
    wid = window_id(start, dims)
    fr_sketch, fr_sum = agg._fr_sketch, agg.first_response_sum_us
    res_sketch, res_sum = agg._res_sketch, agg.resolution_sum_us
    body = _WindowJson(
        wid, format_us(start), 60, source_partition,
        dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6],
        agg.started, agg.first_responses, agg.responded_within_target, agg.abandoned,
        agg.resolved, agg.reopened,
        _EMPTY_SUMMARY if fr_sketch is None and not fr_sum else _sketch_summary(fr_sketch, fr_sum, True),
        _EMPTY_SUMMARY if res_sketch is None and not res_sum else _sketch_summary(res_sketch, res_sum, True),
        sla_by_metric(agg.sla),
        _EMPTY_CSAT if not agg.csat_count else {"count": agg.csat_count, "sum": agg.csat_sum,
                                                "hist": list(agg.csat_hist)},
        agg.late_events,
    )
    return wid.encode(), _encode(body)
