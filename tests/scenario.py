"""A small builder for event scenarios used by the engine and replay tests.

Times are given as seconds after T0 (Monday 2026-11-02 09:00 Asia/Shanghai) so a test states its
timeline in the numbers that matter; events become contract-shaped JSON lines.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import orjson

from streams.core.policy import load_policies_text
from streams.replay import replay_lines

CN = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 2, 9, 0, 0, tzinfo=CN)


def ts(sec: float) -> str:
    return (T0 + timedelta(seconds=sec)).isoformat()


def utc(sec: float) -> str:
    """The engine's output form (UTC, Z) of T0 + sec."""
    d = (T0 + timedelta(seconds=sec)).astimezone(timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if d.microsecond else d.strftime("%Y-%m-%dT%H:%M:%SZ")


class Scenario:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._ids = itertools.count(1)

    def add(self, type_: str, sec: float, **fields) -> dict:
        ev = {"event_id": fields.pop("event_id", f"e{next(self._ids)}"), "type": type_,
              "occurred_at": ts(sec), **fields}
        self.events.append(ev)
        return ev

    # conversations
    def started(self, cid, sec, channel="web", tier="regular", queue=None, **kw):
        return self.add("conversation.started", sec, conversation_id=cid, channel=channel,
                        customer_id="C1", customer_tier=tier, queue=queue, **kw)

    def msg(self, cid, sec, role, author_id=None, text="hi", **kw):
        return self.add("conversation.message", sec, conversation_id=cid, message_id=f"m{sec}",
                        author_role=role, author_id=author_id, text=text, **kw)

    def assigned(self, cid, sec, agent, queue=None):
        return self.add("conversation.assigned", sec, conversation_id=cid, agent_id=agent, queue=queue)

    def transferred(self, cid, sec, to_agent=None, to_queue=None):
        return self.add("conversation.transferred", sec, conversation_id=cid,
                        to_agent_id=to_agent, to_queue=to_queue)

    def ended(self, cid, sec, outcome="resolved"):
        return self.add("conversation.ended", sec, conversation_id=cid, outcome=outcome)

    # tickets
    def created(self, tid, sec, priority="normal", channel="email", category="inquiry",
                tier="regular", group=None):
        return self.add("ticket.created", sec, ticket_id=tid, channel=channel, priority=priority,
                        category=category, customer_id="C1", customer_tier=tier, group=group)

    def comment(self, tid, sec, role, public=True, author_id=None, text="hello"):
        return self.add("ticket.comment", sec, ticket_id=tid, author_role=role, public=public,
                        author_id=author_id, text=text)

    def status(self, tid, sec, status):
        return self.add("ticket.status_changed", sec, ticket_id=tid, status=status)

    def tassigned(self, tid, sec, assignee, group=None):
        return self.add("ticket.assigned", sec, ticket_id=tid, assignee_id=assignee, group=group)

    def priority(self, tid, sec, priority):
        return self.add("ticket.priority_changed", sec, ticket_id=tid, priority=priority)

    def lines(self) -> list[bytes]:
        return [orjson.dumps(e) for e in self.events]

    def replay(self, rules: str, until: float | None = None) -> list[dict]:
        return run_replay(self.lines(), rules, until)


def run_replay(lines: list[bytes], rules: str, until: float | None = None) -> list[dict]:
    from streams.core.timeutil import to_us
    policies = load_policies_text(rules)
    until_us = to_us(T0 + timedelta(seconds=until)) if until is not None else None
    result = replay_lines(lines, policies, until_us)
    return [r.to_dict() for r in result.records]


def brief(records: list[dict], *fields: str) -> list[tuple]:
    """(metric, cycle, status, at-seconds-after-T0, elapsed) tuples: what most tests compare."""
    out = []
    for r in records:
        at = datetime.fromisoformat(r["at"].replace("Z", "+00:00"))
        row = (r["metric"], r["cycle"], r["status"], (at - T0).total_seconds(), r["elapsed_seconds"])
        out.append(row + tuple(r[f] for f in fields))
    return out
