"""Daily QA sample selection (issue 5): which conversations QA specialists review, worst first.

Pure and deterministic: no I/O, no wall clock, no global random state. The same summaries and
rules (`streams.core.qa_rules.QARules`) always give the same samples with the same ids, whatever
the order of the input, so a re-run or a replay of a day is harmless.

Selection, per local day (the input may hold several days; each is sampled on its own):

1. Random: each conversation gets a draw u = hash(seed, entity_id) in [0, 1). The day is split
   into strata (by default channel x agent, `strata` in the rules); in a stratum of n
   conversations the ones with the lowest u are picked, `floor(rate * n + r)` of them, where r
   (also a hash of the seed and the stratum) rounds fractional quotas up or down without bias.
   So every stratum gets `rate` of its conversations up to one, and the day as a whole very
   nearly `rate` (a plain `u < rate` test would give each stratum `rate` only on average).
2. Per-agent max (`per_agent.max_per_day`): an agent's random picks above the cap are dropped,
   highest u first. It does not apply to targeted picks.
3. Targeted pools: every conversation in an enabled pool is included with that reason, whatever
   the random draw; one conversation may have several reasons.
4. Backup: an agent with fewer than `per_agent.min_per_day` random picks gets more from their
   conversations that are not in the sample at all, lowest u first, until the minimum is met or
   the agent has none left. Reason "backup".

Each `Sample` has a priority: the sum of its targeted reasons' weights (plus a little for how
bad a low CSAT is), 0 for random/backup only. `select_day` returns samples highest priority
first.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .qa_rules import BACKUP, RANDOM, REASON_ORDER, QARules

__all__ = ["ConversationSummary", "Sample", "QASampler", "draw", "sample_id"]

_REASON_RANK = {r: i for i, r in enumerate(REASON_ORDER)}


@dataclass(slots=True)
class ConversationSummary:
    """One finished conversation (or ticket) of a day, as the QA sampler needs it."""
    entity_kind: str                 # "conversation" or "ticket"
    entity_id: str
    day: str                         # local date, "2026-11-11"
    channel: str
    agent_id: str | None             # the agent who handled it; None if no agent ever joined
    ended_at_us: int
    csat: int | None = None          # 1-5, None if not rated
    breached: bool = False           # any SLA target breached
    reopened: bool = False
    abandoned_after_agent: bool = False
    handle_time_s: float = 0.0
    texts: list[tuple[str, str]] = field(default_factory=list)   # (author_role, text)


@dataclass(frozen=True, slots=True)
class Sample:
    sample_id: str
    entity_kind: str
    entity_id: str
    agent_id: str | None
    channel: str
    day: str
    reasons: tuple[str, ...]         # in REASON_ORDER: targeted (worst kind first), random, backup
    rule_version: str
    seed: int
    priority: float
    matched_words: tuple[str, ...] = ()   # escalation words found, for the reviewer

    @property
    def targeted(self) -> bool:
        return any(r not in (RANDOM, BACKUP) for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "entity_kind": self.entity_kind,
            "entity_id": self.entity_id,
            "agent_id": self.agent_id,
            "channel": self.channel,
            "day": self.day,
            "reasons": list(self.reasons),
            "rule_version": self.rule_version,
            "seed": self.seed,
            "priority": self.priority,
            "matched_words": list(self.matched_words),
        }


def _h64(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def draw(seed: int, entity_id: str) -> float:
    """The conversation's random draw in [0, 1): a hash of (seed, entity id)."""
    return _h64("qa-draw", seed, entity_id) / 2.0 ** 64


def sample_id(rule_version: str, entity_kind: str, entity_id: str) -> str:
    """Stable id of a sample: same rules version and entity -> same id."""
    data = "\x1f".join(("qa-sample", rule_version, entity_kind, entity_id)).encode("utf-8")
    return "qa_" + hashlib.sha256(data).hexdigest()[:20]


def _percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


class QASampler:
    def __init__(self, rules: QARules) -> None:
        self.rules = rules
        self._weights = {p.name: p.weight for p in rules.pools}
        self._weights["escalation_words"] = rules.escalation.weight
        esc = rules.escalation
        self._zh: tuple[str, ...] = ()
        self._en: re.Pattern[str] | None = None
        if esc.enabled:
            words = dict(esc.words)
            self._zh = tuple(words.get("zh", ()))
            en = words.get("en", ())
            if en:
                alts = "|".join(re.escape(w.casefold()) for w in sorted(en, key=len, reverse=True))
                self._en = re.compile(rf"(?<![a-z0-9])(?:{alts})")

    # ------------------------------------------------------------------ public

    def select_day(self, summaries: list[ConversationSummary]) -> list[Sample]:
        """The day's QA samples, highest priority first (ties: ended earlier first, then id)."""
        by_day: dict[str, dict[tuple[str, str], ConversationSummary]] = defaultdict(dict)
        for s in summaries:
            key = (s.entity_kind, s.entity_id)
            day = by_day[s.day]
            old = day.get(key)
            # A duplicate (e.g. a ticket that ended twice): keep the latest summary.
            if old is None or s.ended_at_us >= old.ended_at_us:
                day[key] = s
        out: list[Sample] = []
        for day in sorted(by_day):
            out.extend(self._select(list(by_day[day].values())))
        out.sort(key=lambda x: (-x.priority, x.day, x.sample_id))
        return out

    def select_targeted(self, s: ConversationSummary) -> Sample | None:
        """The targeted pools `s` is in on its own, as an early sample; None if in none.

        Pools that need the whole day (long handle time: the channel's p90) are left to
        `select_day`, which gives the same sample id with every reason once the day is drawn.
        """
        reasons = {reason for _, reason in self._targeted([s]) if reason != "long_handle_time"}
        words = self.escalation_matches(s)
        if words:
            reasons.add("escalation_words")
        return self._sample(s, reasons, words) if reasons else None

    def sample(self, s: ConversationSummary, reasons: set[str]) -> Sample:
        """The sample of `s` for the given reasons (e.g. kept from an earlier, early draw)."""
        return self._sample(s, set(reasons), self.escalation_matches(s))

    def escalation_matches(self, s: ConversationSummary) -> tuple[str, ...]:
        esc = self.rules.escalation
        if not esc.enabled:
            return ()
        found: set[str] = set()
        for role, text in s.texts:
            if role not in esc.roles or not text:
                continue
            for w in self._zh:
                if w in text:
                    found.add(w)
            if self._en is not None:
                found.update(m.group(0) for m in self._en.finditer(text.casefold()))
        return tuple(sorted(found))

    # ------------------------------------------------------------------ internals

    def _select(self, convs: list[ConversationSummary]) -> list[Sample]:
        r = self.rules
        u = {id(s): draw(r.seed, s.entity_id) for s in convs}
        order = lambda s: (u[id(s)], s.entity_kind, s.entity_id)  # noqa: E731
        reasons: dict[int, set[str]] = defaultdict(set)

        # 1. stratified random draw
        strata: dict[tuple, list[ConversationSummary]] = defaultdict(list)
        for s in convs:
            key = tuple(s.channel if d == "channel" else (s.agent_id or "") for d in r.strata)
            strata[key].append(s)
        random_picks: list[ConversationSummary] = []
        for key in sorted(strata):
            members = sorted(strata[key], key=order)
            offset = _h64("qa-round", r.seed, convs[0].day, *key) / 2.0 ** 64
            quota = min(len(members), math.floor(r.rate * len(members) + offset))
            random_picks.extend(members[:quota])

        # 2. per-agent cap on random picks (lowest draws kept)
        per_agent: dict[str | None, list[ConversationSummary]] = defaultdict(list)
        for s in sorted(random_picks, key=order):
            per_agent[s.agent_id].append(s)
        n_random: dict[str | None, int] = defaultdict(int)
        for agent, picks in per_agent.items():
            if agent is not None and r.max_per_day is not None:
                picks = picks[:r.max_per_day]
            for s in picks:
                reasons[id(s)].add(RANDOM)
            n_random[agent] = len(picks)

        # 3. targeted pools
        words: dict[int, tuple[str, ...]] = {}
        for s, reason in self._targeted(convs):
            reasons[id(s)].add(reason)
        for s in convs:
            w = self.escalation_matches(s)
            if w:
                words[id(s)] = w
                reasons[id(s)].add("escalation_words")

        # 4. backup top-up to the per-agent minimum (random picks count toward it)
        if r.backup and r.min_per_day > 0:
            by_agent: dict[str, list[ConversationSummary]] = defaultdict(list)
            for s in convs:
                if s.agent_id is not None and id(s) not in reasons:
                    by_agent[s.agent_id].append(s)
            agents = {s.agent_id for s in convs if s.agent_id is not None}
            for agent in sorted(agents):
                missing = r.min_per_day - n_random.get(agent, 0)
                if missing <= 0:
                    continue
                for s in sorted(by_agent.get(agent, ()), key=order)[:missing]:
                    reasons[id(s)].add(BACKUP)

        by_id = {id(s): s for s in convs}
        return [self._sample(by_id[k], rs, words.get(k, ())) for k, rs in reasons.items()]

    def _targeted(self, convs: list[ConversationSummary]):
        r = self.rules
        for pool in r.pools:
            if not pool.enabled:
                continue
            if pool.name == "low_csat":
                yield from ((s, pool.name) for s in convs
                            if s.csat is not None and s.csat <= (pool.max_score or 0))
            elif pool.name == "breached":
                yield from ((s, pool.name) for s in convs if s.breached)
            elif pool.name == "reopened":
                yield from ((s, pool.name) for s in convs if s.reopened)
            elif pool.name == "abandoned_after_agent_joined":
                yield from ((s, pool.name) for s in convs if s.abandoned_after_agent)
            elif pool.name == "long_handle_time":
                by_channel: dict[str, list[ConversationSummary]] = defaultdict(list)
                for s in convs:
                    by_channel[s.channel].append(s)
                for members in by_channel.values():
                    if len(members) < pool.min_conversations:
                        continue
                    limit = _percentile(sorted(s.handle_time_s for s in members),
                                        pool.percentile or 90.0)
                    yield from ((s, pool.name) for s in members if s.handle_time_s > limit)

    def _sample(self, s: ConversationSummary, reasons: set[str],
                matched: tuple[str, ...]) -> Sample:
        r = self.rules
        priority = float(sum(self._weights.get(x, 0) for x in reasons))
        if "low_csat" in reasons and s.csat is not None:
            priority += float(5 - s.csat)            # a 1 is worse than a 2
        if "escalation_words" in reasons:
            priority += float(min(len(matched), 5))  # several threats are worse than one
        return Sample(
            sample_id=sample_id(r.version, s.entity_kind, s.entity_id),
            entity_kind=s.entity_kind,
            entity_id=s.entity_id,
            agent_id=s.agent_id,
            channel=s.channel,
            day=s.day,
            reasons=tuple(sorted(reasons, key=_REASON_RANK.__getitem__)),
            rule_version=r.version,
            seed=r.seed,
            priority=priority,
            matched_words=matched,
        )
