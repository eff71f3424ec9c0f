"""The QA day (issue 5): events + SLA records -> the day's QA samples, masked transcripts and checks.

`summaries_from_events(events, records, tz)` turns a log of contract events (shared/spec/events.md)
into one `ConversationSummary` per ended conversation and per solved (or closed) ticket, plus each
entity's transcript as `Turn`s:

- channel: from `*.started` / `ticket.created`; queue too (kept aside for the rows);
- agent: the assignee when the entity ended (assigned / transferred / ticket.assigned), else the
  last agent who wrote in it; None when no agent ever did either;
- day: the local date (`tz`, default Asia/Shanghai) of the end: `conversation.ended`, or the
  ticket's last `solved` (its `closed` when it was never solved);
- csat: the last `conversation.rated` / `ticket.rated` score;
- breached: some SLA record of the entity has status `breached`;
- reopened: a ticket went from solved/closed back to open/pending;
- abandoned_after_agent: a conversation ended with outcome `abandoned` after an agent had been
  assigned or had replied;
- handle_time_s: start to end; texts: (author_role, text) of messages and public ticket comments
  (internal notes are not part of what the customer saw and are left out).

Events are de-duplicated by `event_id` and taken in event-time order (ties: input order).

`run_qa_day(events, records, qa_rules, day=None)` samples the day(s) with `QASampler` and returns
one dict per sample, ready for `ClickHouseSink.write_qa_samples` (the migration-6 columns:
`reasons`, `priority`, `day`), with its `transcript` (every turn's text through `pii.mask`) for
`write_qa_transcripts` and its `checks` (`QAChecker` run on the UNMASKED turns; the checker's
evidence never carries PII) for `write_qa_checks`. Rows carry `version` 1, so writing a day again
is idempotent and never replaces a reviewer's later state of a sample. Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from .core.pii import mask
from .core.qa_checks import QAChecker, Turn
from .core.qa_rules import QARules
from .core.qa_sampler import ConversationSummary, QASampler
from .core.timeutil import parse_rfc3339

__all__ = ["MASKING_VERSION", "DEFAULT_TZ", "summaries_from_events", "run_qa_day", "sample_rows",
           "entity_queues", "json_objects"]

MASKING_VERSION = "pii-v1"
DEFAULT_TZ = "Asia/Shanghai"
ROW_VERSION = 1
US = 1_000_000


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _breached_ids(records: Iterable[Any]) -> set[str]:
    out: set[str] = set()
    for r in records or ():
        if isinstance(r, Mapping):
            status, eid = r.get("status"), r.get("entity_id")
        else:
            status, eid = getattr(r, "status", None), getattr(r, "entity_id", None)
        if status == "breached" and eid is not None:
            out.add(str(eid))
    return out


class _State:
    __slots__ = ("kind", "eid", "channel", "queue", "start", "end", "outcome", "assignee",
                 "last_replier", "agent_seen", "csat", "status", "reopened", "solved_at",
                 "closed_at", "turns")

    def __init__(self, kind: str, eid: str) -> None:
        self.kind, self.eid = kind, eid
        self.channel: str | None = None
        self.queue: str | None = None
        self.start: int | None = None
        self.end: int | None = None
        self.outcome: str | None = None
        self.assignee: str | None = None
        self.last_replier: str | None = None
        self.agent_seen = False
        self.csat: int | None = None
        self.status: str | None = None
        self.reopened = False
        self.solved_at: int | None = None
        self.closed_at: int | None = None
        self.turns: list[Turn] = []


def _entities(events: Iterable[Mapping[str, Any]]) -> dict[str, _State]:
    seen: set[str] = set()
    items: list[tuple[int, int, Mapping[str, Any]]] = []
    for n, ev in enumerate(events):
        eid = ev.get("event_id")
        if eid is not None:
            if eid in seen:
                continue
            seen.add(eid)
        try:
            items.append((parse_rfc3339(str(ev["occurred_at"])), n, ev))
        except (KeyError, ValueError, TypeError):
            continue
    items.sort(key=lambda x: (x[0], x[1]))
    states: dict[str, _State] = {}
    for t, _, ev in items:
        typ = str(ev.get("type") or "")
        kind = typ.split(".", 1)[0]
        if kind not in ("conversation", "ticket"):
            continue
        eid = ev.get(f"{kind}_id")
        if eid is None:
            continue
        st = states.get(eid)
        if st is None:
            st = states[eid] = _State(kind, str(eid))
        if typ in ("conversation.started", "ticket.created"):
            st.start = t
            st.channel = ev.get("channel") or st.channel
            st.queue = ev.get("queue") or ev.get("group") or st.queue
        elif typ == "conversation.assigned":
            st.assignee = ev.get("agent_id") or st.assignee
            st.agent_seen = st.agent_seen or bool(ev.get("agent_id"))
            st.queue = ev.get("queue") or st.queue
        elif typ == "conversation.transferred":
            st.assignee = ev.get("to_agent_id")  # to a queue only: nobody until assigned
            st.queue = ev.get("to_queue") or st.queue
        elif typ == "ticket.assigned":
            st.assignee = ev.get("assignee_id") or st.assignee
            st.agent_seen = st.agent_seen or bool(ev.get("assignee_id"))
        elif typ in ("conversation.message", "ticket.comment"):
            if typ == "ticket.comment" and ev.get("public") is False:
                continue
            try:
                turn = Turn.from_event(ev)
            except (KeyError, ValueError, TypeError):
                continue
            st.turns.append(turn)
            if turn.role == "agent":
                st.agent_seen = True
                if turn.author_id:
                    st.last_replier = turn.author_id
        elif typ == "conversation.ended":
            st.end = t
            st.outcome = ev.get("outcome")
        elif typ in ("conversation.rated", "ticket.rated"):
            score = ev.get("score")
            if isinstance(score, int) and not isinstance(score, bool):
                st.csat = score
        elif typ == "ticket.status_changed":
            new = ev.get("status")
            if st.status in ("solved", "closed") and new in ("open", "pending"):
                st.reopened = True
            if new == "solved":
                st.solved_at = t
            elif new == "closed":
                st.closed_at = t
            st.status = new
    return states


def json_objects(lines: Iterable[bytes]) -> list[dict]:
    """The lines that are JSON objects, decoded; anything else is skipped (the SLA replay
    reports invalid lines with their numbers, so the QA day need not say it again)."""
    out: list[dict] = []
    for line in lines:
        try:
            d = orjson.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict):
            out.append(d)
    return out


def entity_queues(events: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """The queue each entity was in when it ended (for the sample rows)."""
    return {st.eid: st.queue for st in _entities(events).values()}


def summaries_from_events(
    events: Iterable[Mapping[str, Any]], records: Iterable[Any], tz: str = DEFAULT_TZ,
) -> tuple[list[ConversationSummary], dict[str, list[Turn]]]:
    """Summaries of the ended conversations and solved tickets, and their transcripts by entity id."""
    zone = ZoneInfo(tz)
    breached = _breached_ids(records)
    summaries: list[ConversationSummary] = []
    turns: dict[str, list[Turn]] = {}
    for st in _entities(events).values():
        if st.kind == "conversation":
            end = st.end
        else:
            end = st.solved_at if st.solved_at is not None else st.closed_at
        if end is None:
            continue
        start = st.start if st.start is not None else (st.turns[0].at_us if st.turns else end)
        ordered = sorted(st.turns, key=lambda x: x.at_us)
        day = datetime.fromtimestamp(end / US, tz=zone).date().isoformat()
        summaries.append(ConversationSummary(
            entity_kind=st.kind, entity_id=st.eid, day=day, channel=st.channel or "unknown",
            agent_id=st.assignee or st.last_replier, ended_at_us=end, csat=st.csat,
            breached=st.eid in breached, reopened=st.reopened,
            abandoned_after_agent=(st.kind == "conversation" and st.outcome == "abandoned"
                                   and st.agent_seen),
            handle_time_s=max(0, end - start) / US,
            texts=[(x.role, x.text) for x in ordered],
        ))
        turns[st.eid] = ordered
    summaries.sort(key=lambda s: (s.ended_at_us, s.entity_id))
    return summaries, turns


def run_qa_day(events: Iterable[Mapping[str, Any]], records: Iterable[Any], qa_rules: QARules,
               day: str | None = None, tz: str = DEFAULT_TZ,
               checker: QAChecker | None = None) -> list[dict]:
    """The QA samples of `day` (every day in the events when None), highest priority first."""
    events = list(events)
    summaries, turns = summaries_from_events(events, records, tz)
    if day is not None:
        summaries = [s for s in summaries if s.day == day]
    queues = entity_queues(events)
    return sample_rows(QASampler(qa_rules).select_day(summaries), summaries, turns, queues,
                       checker or QAChecker())


def sample_rows(samples: Iterable[Any], summaries: Iterable[ConversationSummary],
                turns: Mapping[str, list[Turn]], queues: Mapping[str, str | None],
                checker: QAChecker) -> list[dict]:
    """Stored rows of `samples`: the sample, its masked transcript and its check results."""
    by_id = {s.entity_id: s for s in summaries}
    rows: list[dict] = []
    for sample in samples:
        s = by_id[sample.entity_id]
        tr = turns.get(sample.entity_id, [])
        row = sample.to_dict()
        row.update(
            reason=sample.reasons[0] if sample.reasons else "",
            queue=queues.get(sample.entity_id),
            sampled_at=_iso(s.ended_at_us),
            status="pending",
            version=ROW_VERSION,
            masking_version=MASKING_VERSION,
            message_count=len(tr),
            created_at=_iso(s.ended_at_us),
            transcript=[{"role": t.role, "author_id": t.author_id, "at": _iso(t.at_us),
                         "text": mask(t.text)} for t in tr],
            checks=[{"sample_id": sample.sample_id, "check": c.check, "passed": c.passed,
                     "evidence": list(c.evidence), "version": ROW_VERSION}
                    for c in checker.run(tr)],
        )
        rows.append(row)
    return rows
