"""Entity state <-> bytes, so live workers can persist the SLA engine in a changelogged table.

One value per entity (its attributes, flags, de-dup hashes and clocks), written once per batch
for every entity the batch changed. Entities are independent, so restoring each one to its last
written value gives a consistent engine: events re-read after a crash are either already in an
entity's de-dup hashes (skipped) or were never applied to it (applied now).

The format is a versioned JSON array (orjson): compact, and readable when debugging a changelog.
"""
from __future__ import annotations

import base64

import orjson

from .engine import PAUSED, RUNNING, STOPPED, Clock, Entity, SlaEngine

FORMAT_VERSION = 1
_METRICS = ("first_response", "next_response", "assignment", "resolution")


class StateError(ValueError):
    """A persisted entity state that cannot be read (corrupt, or from an unknown version)."""


def dump_entity(e: Entity) -> bytes:
    clocks = []
    for metric in _METRICS:
        c = getattr(e, metric)
        if c is not None:
            clocks.append([metric, c.cycle, c.policy.name, c.state, c.seg_start, c.seg_elapsed,
                           c.breached_at, list(c.warned), c.outcome])
    return orjson.dumps([
        FORMAT_VERSION, e.kind, e.id, e.start, e.channel, e.priority, e.customer_tier,
        e.category, e.queue, e.group, e.assignee, e.last_agent,
        e.policy.name if e.policy is not None else None, e.responded, e.waiting_since,
        e.nr_cycles, e.status, e.assigned, e.pauses, base64.b64encode(e.seen).decode(),
        e.ended_at, clocks,
    ])


def load_entity(data: bytes, engine: SlaEngine) -> Entity:
    """Rebuild an entity against `engine`'s policies (re-matched if its policy is gone)."""
    try:
        v = orjson.loads(data)
        if not isinstance(v, list) or v[0] != FORMAT_VERSION:
            raise StateError(f"unknown entity state format {v[0] if isinstance(v, list) and v else v!r}")
        (_, kind, eid, start, channel, priority, tier, category, queue, group, assignee,
         last_agent, policy_name, responded, waiting_since, nr_cycles, status, assigned, pauses,
         seen, ended_at, clocks) = v
        e = Entity(kind, eid, start)
        e.channel, e.priority, e.customer_tier, e.category = channel, priority, tier, category
        e.queue, e.group, e.assignee, e.last_agent = queue, group, assignee, last_agent
        e.responded, e.waiting_since, e.nr_cycles = responded, waiting_since, nr_cycles
        e.status, e.assigned, e.pauses, e.ended_at = status, assigned, pauses, ended_at
        e.seen = base64.b64decode(seen)
        policies = engine.policies
        e.policy = _policy(policies, policy_name) or policies.match(e.attrs())
        for metric, cycle, pname, state, seg_start, seg_elapsed, breached_at, warned, outcome in clocks:
            policy = _policy(policies, pname) or e.policy
            if policy is None or metric not in policy.targets:
                continue  # the rules no longer measure this metric for this entity
            c = Clock(e, metric, cycle, policy, policy.targets[metric], seg_start, seg_elapsed)
            if state not in (RUNNING, PAUSED, STOPPED):
                raise StateError(f"clock state {state!r}")
            c.state, c.breached_at, c.warned, c.outcome = state, breached_at, tuple(warned), outcome
            setattr(e, metric, c)
        return e
    except StateError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise StateError(f"corrupt entity state: {exc}") from None


def _policy(policies, name):
    return policies.get(name) if name is not None else None
