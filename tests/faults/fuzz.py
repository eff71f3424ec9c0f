"""Seeded hostile input for the fault tests: generated support events mixed with broken ones.

`fuzzed_messages(seed, total)` returns the messages in the order they are produced, each with
the input topic kind it goes to, its key, its bytes and the dead-letter code the worker must
give it (None for a valid event). Valid messages are the generator's events plus valid oddities
(events from 1975 for fresh or unknown entities, and re-used event ids with a different body
right after the original), so "valid outcomes unchanged" can be checked against a replay of the
valid messages alone, in the same order.

Broken ones: truncated JSON, wrong field types, naive and non-RFC 3339 timestamps, messages
over the 1 MiB limit, invalid UTF-8, unknown and missing types, JSON that is not an object,
timestamps far in the future (year 9999, tomorrow) and before 1970 (Go's zero time
0001-01-01T00:00:00Z, 1900), and valid events sent to the other kind's topic.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson

from streams.core.events import DEFAULT_MAX_BYTES
from streams.generator import GeneratorConfig, generate

# Far enough back that a replay and a live worker both apply them at their own (late) time.
FAR_PAST = datetime(1975, 3, 1, 9, 0, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Message:
    kind: str            # input topic it is produced to: "conversation" or "ticket"
    key: bytes
    raw: bytes
    code: str | None     # expected dead-letter code; None: valid, must be applied


def _kind(ev: dict) -> str:
    return "conversation" if ev["type"].startswith("conversation.") else "ticket"


def _key(ev: dict) -> bytes:
    # A ticket escalated from a chat also names its conversation: the key is the entity's own id.
    return str(ev["conversation_id"] if _kind(ev) == "conversation" else ev["ticket_id"]).encode()


def _valid(ev: dict) -> Message:
    return Message(_kind(ev), _key(ev), orjson.dumps(ev), None)


# Relative frequency of each kind of broken message (index = `how` below). Messages over the
# size limit are rare: each costs a megabyte on the broker.
_WEIGHTS = (10, 10, 6, 0.15, 8, 6, 4, 4, 6, 4, 6, 2, 2, 6)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _broken(rng: random.Random, ev: dict, wall: datetime, n: int) -> Message:
    """One invalid message made from the valid event `ev` (`n` makes ids unique)."""
    kind, key, raw = _kind(ev), _key(ev), orjson.dumps(ev)
    how = rng.choices(range(14), _WEIGHTS)[0]
    if how == 0:
        cut = raw[:rng.randrange(len(raw))]
        # cut inside a multi-byte character (Chinese text): the broken UTF-8 is found first
        return Message(kind, key, cut, "invalid_json" if _is_utf8(cut) else "invalid_utf8")
    if how == 1:
        field = rng.choice(["event_id", "occurred_at", "conversation_id" if kind == "conversation" else "ticket_id"])
        bad = rng.choice([12345, 1.5, True, ["x"], {"a": 1}, None])
        return Message(kind, key, orjson.dumps({**ev, field: bad}), "invalid_field")
    if how == 2:
        # naive, epoch seconds as text, and a date only: not RFC 3339 timestamps with an offset
        bad = rng.choice(["2026-11-02T10:00:00", "1762048800", "2026-11-02", "yesterday"])
        return Message(kind, key, orjson.dumps({**ev, "occurred_at": bad}), "invalid_field")
    if how == 3:
        size = DEFAULT_MAX_BYTES + rng.randrange(1, 4096)
        return Message(kind, key, orjson.dumps({**ev, "text": "x" * size}), "too_large")
    if how == 4:
        cut = rng.randrange(1, len(raw) - 1)
        return Message(kind, key, raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + raw[cut:],
                       "invalid_utf8")
    if how == 5:
        return Message(kind, key, orjson.dumps({**ev, "type": rng.choice(["conversation.exploded", "ticket.deleted", "", "CONVERSATION.STARTED"])}),
                       "unknown_type")
    if how == 6:
        return Message(kind, key, orjson.dumps({k: v for k, v in ev.items() if k != "type"}), "missing_type")
    if how == 7:
        return Message(kind, key, rng.choice([b"[1, 2]", b'"conversation.started"', b"42", b"null", b"true"]),
                       "not_an_object")
    if how == 8:
        future = rng.choice(["9999-12-31T23:59:59Z", (wall + timedelta(days=1)).isoformat(),
                             (wall + timedelta(hours=2)).isoformat()])
        return Message(kind, key, orjson.dumps({**ev, "occurred_at": future}), "future_timestamp")
    if how == 9:
        past = rng.choice(["0001-01-01T00:00:00Z", "1900-01-01T00:00:00+08:00", "1969-12-31T23:59:59Z"])
        return Message(kind, key, orjson.dumps({**ev, "event_id": f"zero-{n}", "occurred_at": past}), "past_timestamp")
    if how == 10:
        other = "ticket" if kind == "conversation" else "conversation"
        return Message(other, key, raw, "wrong_topic")
    if how == 11:
        return Message(kind, key, b"", "invalid_json")
    if how == 12:  # deeply nested JSON: refused by the parser's depth limit, not the stack
        depth = rng.randrange(300, 5000)
        return Message(kind, key, b'{"type": "conversation.started", "x": ' + b"[" * depth + b"]" * depth + b"}",
                       "invalid_json")
    # a required field of the type itself missing (the type tag is right)
    required = "occurred_at" if rng.random() < 0.5 else "event_id"
    return Message(kind, key, orjson.dumps({k: v for k, v in ev.items() if k != required}), "invalid_field")


def _valid_oddity(rng: random.Random, ev: dict, n: int) -> list[Message]:
    """Valid messages that are not plain generated events."""
    how = rng.randrange(3)
    if how == 0:   # a conversation that started in 1975: late live, first in a replay
        t = FAR_PAST + timedelta(seconds=n)
        return [_valid(ev), _valid({"event_id": f"past-{n}", "type": "conversation.started", "occurred_at": t.isoformat(),
                        "conversation_id": f"CV-PAST-{n}", "channel": "web", "customer_id": f"U-PAST-{n}"})]
    if how == 1:   # a 1975 message for a conversation nobody started: changes nothing
        t = FAR_PAST + timedelta(seconds=n)
        return [_valid(ev), _valid({"event_id": f"orphan-{n}", "type": "conversation.message", "occurred_at": t.isoformat(),
                        "conversation_id": f"CV-NOBODY-{n}", "message_id": f"m-{n}",
                        "author_role": "agent", "author_id": "A001", "text": "hello"})]
    # The same event id with another body, right after the original, a second either side of
    # it: the first in (time, offset) order wins, live as in a replay.
    dup = dict(ev)
    t = datetime.fromisoformat(ev["occurred_at"]) + timedelta(seconds=rng.choice([-1, 0, 1]))
    dup["occurred_at"] = t.isoformat()
    if "text" in dup:
        dup["text"] = dup["text"] + " (edited)"
    elif "customer_tier" in dup:
        dup["customer_tier"] = rng.choice(["vip", "regular", "new"])
    else:
        dup["fuzz_note"] = "another body"
    return [_valid(ev), _valid(dup)]


def fuzzed_messages(seed: int, total: int, start: datetime, wall: datetime | None = None, *,
                    invalid_share: float = 0.4, oddity_share: float = 0.05) -> tuple[list[Message], datetime]:
    """`total` messages of generated traffic from `start`, and the wall clock they are judged
    by: `wall`, or a fixed day after the traffic ends (a test passing that clock gets the same
    dead letters on every run). "Future" timestamps are later than that wall clock."""
    # The generator gives ~43k events a day at these rates, fewer at night: more days until
    # the traffic is long enough (each attempt is deterministic, so the result is too).
    days = max(0.02, total * (1.0 - invalid_share - oddity_share) / 43_000)
    while True:
        events = list(generate(GeneratorConfig(seed=seed, start=start, days=days,
                                               conversations_per_day=3000, tickets_per_day=600)))
        at = wall if wall is not None else start + timedelta(days=days + 1)
        out = _mix(random.Random(seed), events, total, at, invalid_share, oddity_share)
        if len(out) == total:
            return out, at
        days *= 1.5


def _mix(rng: random.Random, events: list[dict], total: int, wall: datetime,
         invalid_share: float, oddity_share: float) -> list[Message]:
    out: list[Message] = []
    n = 0
    it = iter(events)
    for ev in it:
        out.append(_valid(ev))
        while len(out) < total:
            r = rng.random()
            if r < invalid_share:
                n += 1
                out.append(_broken(rng, ev, wall, n))
            elif r < invalid_share + oddity_share:
                n += 1
                nxt = next(it, None)
                if nxt is None:
                    break
                out.extend(_valid_oddity(rng, nxt, n))
            else:
                break
        if len(out) >= total:
            break
    return out[:total]
