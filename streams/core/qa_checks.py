"""Automatic QA checks on a (sampled) support transcript, Chinese and English. Pure: no I/O, no clock.

A transcript is a list of `Turn`s (role = `author_role` of the event contract: customer, agent, bot,
system). Only `agent` turns are judged and only `agent` turns count as replies; bot and system turns
are ignored by every check. Turns are ordered by `at_us` (stable, so ties keep input order); evidence
refers to turns by their index in the transcript as given (`#3`).

Checks (`QAChecker.run` returns them in this order):
- `greeting`      the first agent turn contains a greeting phrase.
- `closing`       one of the last two agent turns contains a closing phrase.
- `polite`        no forbidden phrase in any agent turn; evidence = `#i '<phrase>': <snippet>`, the
                  snippet taken from the PII-masked text.
- `response_gaps` every wait (first unanswered customer turn -> next agent turn) is <= the target;
                  evidence = `#i->#j <gap>s > <target>s`. A wait that never ends is `unanswered`'s job.
- `unanswered`    every customer turn is followed by some agent turn; evidence = `#i` per turn.
- `privacy`       no PII (`pii.find_pii`) in agent turns; evidence = `#i: <kind>` (never the value).

Customer turns that are only an acknowledgement ("谢谢", "好的", "ok thanks", ...) need no reply: they
neither start a wait nor count as unanswered.

Language: per turn, CJK characters only -> zh, Latin letters only -> en; mixed or neither -> unsure,
and then the phrase lists of both languages are used. Chinese phrases match as substrings, English
phrases case-insensitively on word boundaries with any whitespace between words. Before forbidden
phrases are searched, the `allowed` phrases are blanked out (so 麻烦您 does not hit 烦, 滚筒洗衣机 not 滚).

Config: `QAChecker()` uses the defaults; `QAChecker(QAConfig(...))` or a dict such as
`{"zh": {"greetings": [...], "forbidden": [...]}, "response_gap_target_s": 45}` overrides them. A list
given in the dict replaces that default list; anything not given keeps its default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from streams.core.pii import find_pii, mask

__all__ = [
    "CHECKS",
    "DEFAULT_PHRASES",
    "CheckResult",
    "LangPhrases",
    "QAChecker",
    "QAConfig",
    "Transcript",
    "Turn",
    "detect_language",
]

US = 1_000_000
CHECKS = ("greeting", "closing", "polite", "response_gaps", "unanswered", "privacy")


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # customer | agent | bot | system
    text: str
    at_us: int  # event time, microseconds since the epoch
    author_id: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> "Turn":
        """From a `conversation.message` / `ticket.comment` event dict (see the event contract)."""
        from streams.core.timeutil import parse_rfc3339

        return cls(
            role=str(event["author_role"]),
            text=str(event.get("text") or ""),
            at_us=parse_rfc3339(str(event["occurred_at"])),
            author_id=event.get("author_id"),
        )


Transcript = list[Turn]


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    passed: bool
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LangPhrases:
    greetings: tuple[str, ...] = ()
    closings: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()  # polite phrases that contain a forbidden one; blanked first
    acknowledgements: tuple[str, ...] = ()  # customer turns made only of these need no reply


DEFAULT_PHRASES: dict[str, LangPhrases] = {
    "zh": LangPhrases(
        greetings=("您好", "你好", "很高兴为您服务", "很高兴为你服务", "欢迎光临", "欢迎咨询", "在的亲", "亲，在的", "亲在的"),
        closings=(
            "还有其他可以帮您", "还有什么可以帮您", "还有其他问题", "还有什么问题", "祝您生活愉快",
            "祝您购物愉快", "感谢您的耐心", "感谢您的支持", "感谢您的理解", "欢迎下次光临", "再见",
        ),
        forbidden=(
            "不知道", "没办法", "你自己看", "你自己查", "自己去看", "滚", "烦", "不归我管", "爱买不买",
            "听不懂吗", "你有病", "神经病", "笨", "闭嘴", "关我什么事",
        ),
        allowed=(
            "麻烦", "烦请", "烦劳", "不厌其烦", "滚动", "滚筒", "滚轮", "翻滚", "不知道您", "不知道是否",
            "不知道亲", "笨重",
        ),
        acknowledgements=(
            "谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "好的", "好", "好吧", "嗯", "嗯嗯", "哦", "收到",
            "知道了", "明白了", "没有了", "没了", "再见", "拜拜", "ok", "好的谢谢",
        ),
    ),
    "en": LangPhrases(
        greetings=(
            "hello", "hi", "hey", "good morning", "good afternoon", "good evening",
            "thanks for contacting", "thank you for contacting", "welcome to", "how may i help",
            "how can i help",
        ),
        closings=(
            "anything else i can help", "anything else i can do", "is there anything else",
            "have a nice day", "have a great day", "have a good day", "thanks for contacting",
            "thank you for contacting", "thanks for your patience", "goodbye", "take care",
        ),
        forbidden=(
            "not my problem", "not my job", "stupid", "idiot", "calm down", "shut up",
            "i don't know", "i dont know", "figure it out yourself", "read it yourself", "dumb",
            "there's nothing i can do", "nothing i can do",
        ),
        allowed=(),
        acknowledgements=(
            "thanks", "thank you", "thx", "ok", "okay", "ok thanks", "ok thank you", "great", "got it",
            "cool", "bye", "goodbye", "no", "no thanks", "that's all", "thats all", "perfect", "great thanks",
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class QAConfig:
    phrases: Mapping[str, LangPhrases] = field(default_factory=lambda: dict(DEFAULT_PHRASES))
    response_gap_target_s: float = 60.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "QAConfig":
        """Defaults overridden by `data` (see the module docstring for its shape)."""
        data = dict(data or {})
        phrases = dict(DEFAULT_PHRASES)
        target = float(data.pop("response_gap_target_s", 60.0))
        if target < 0:
            raise ValueError("response_gap_target_s must be >= 0")
        for lang, spec in data.items():
            if not isinstance(spec, Mapping):
                raise ValueError(f"config for language {lang!r} must be a mapping")
            unknown = set(spec) - set(LangPhrases.__slots__)
            if unknown:
                raise ValueError(f"unknown phrase list(s) for {lang!r}: {sorted(unknown)}")
            for key, value in spec.items():
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise ValueError(f"{lang}.{key} must be a list of phrases")
            base = phrases.get(lang, LangPhrases())
            phrases[lang] = replace(base, **{k: tuple(str(p) for p in v) for k, v in spec.items()})
        return cls(phrases=phrases, response_gap_target_s=target)


_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")  # codes like SF123 don't count


def detect_language(text: str) -> str | None:
    """'zh', 'en', or None when unsure (both scripts, or neither)."""
    has_cjk = bool(_CJK_RE.search(text))
    has_latin = bool(_LATIN_WORD_RE.search(_mask_tokens_out(text)))
    if has_cjk and not has_latin:
        return "zh"
    if has_latin and not has_cjk:
        return "en"
    return None


def _mask_tokens_out(text: str) -> str:
    return re.sub(r"\[(?:PHONE|EMAIL|CARD|ID)\]", " ", text)


def _normalize(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u3000", " ").lower()


class _Matcher:
    """Finds phrases of one list in text; built once per (language, list)."""

    def __init__(self, phrases: Sequence[str], latin: bool) -> None:
        parts = []
        for p in sorted({_normalize(p).strip() for p in phrases if p.strip()}, key=len, reverse=True):
            body = r"\s+".join(re.escape(w) for w in p.split())
            parts.append(rf"(?<![a-z0-9]){body}(?![a-z0-9])" if latin else body)
        self._re = re.compile("|".join(parts)) if parts else None

    def finditer(self, text: str) -> list[re.Match[str]]:
        return list(self._re.finditer(text)) if self._re else []

    def blank(self, text: str) -> str:
        if not self._re:
            return text
        return self._re.sub(lambda m: " " * len(m.group()), text)


class QAChecker:
    def __init__(self, config: QAConfig | Mapping[str, Any] | None = None) -> None:
        if config is None or not isinstance(config, QAConfig):
            config = QAConfig.from_dict(config)
        self.config = config
        self._target_us = round(config.response_gap_target_s * US)
        self._m: dict[tuple[str, str], _Matcher] = {}
        for lang, ph in config.phrases.items():
            latin = lang != "zh"
            for kind in ("greetings", "closings", "forbidden", "allowed", "acknowledgements"):
                self._m[(lang, kind)] = _Matcher(getattr(ph, kind), latin)

    # --- helpers ---------------------------------------------------------------------------

    def _langs(self, text: str) -> list[str]:
        lang = detect_language(text)
        if lang is not None and lang in self.config.phrases:
            return [lang]
        return list(self.config.phrases)

    def _find(self, kind: str, text: str) -> list[str]:
        norm = _normalize(text)
        return [m.group() for lang in self._langs(text) for m in self._m[(lang, kind)].finditer(norm)]

    def _is_ack(self, text: str) -> bool:
        rest = _normalize(text)
        for lang in self._langs(text):
            rest = self._m[(lang, "acknowledgements")].blank(rest)
        return not re.sub(r"[\W_]+", "", rest)  # nothing left but punctuation / emoji / spaces

    @staticmethod
    def _ordered(transcript: Sequence[Turn]) -> list[tuple[int, Turn]]:
        return sorted(enumerate(transcript), key=lambda it: it[1].at_us)

    def _agent_turns(self, transcript: Sequence[Turn]) -> list[tuple[int, Turn]]:
        return [(i, t) for i, t in self._ordered(transcript) if t.role == "agent"]

    # --- checks ----------------------------------------------------------------------------

    def check_greeting(self, transcript: Sequence[Turn]) -> CheckResult:
        agents = self._agent_turns(transcript)
        if not agents:
            return CheckResult("greeting", False, ["no agent message"])
        i, turn = agents[0]
        hits = self._find("greetings", turn.text)
        if hits:
            return CheckResult("greeting", True, [f"#{i} '{hits[0]}'"])
        return CheckResult("greeting", False, [f"#{i} no greeting: {_snippet(mask(turn.text), 0, 0)}"])

    def check_closing(self, transcript: Sequence[Turn]) -> CheckResult:
        agents = self._agent_turns(transcript)
        if not agents:
            return CheckResult("closing", False, ["no agent message"])
        for i, turn in reversed(agents[-2:]):
            hits = self._find("closings", turn.text)
            if hits:
                return CheckResult("closing", True, [f"#{i} '{hits[0]}'"])
        return CheckResult(
            "closing", False, [f"#{i} no closing: {_snippet(mask(t.text), 0, 0)}" for i, t in agents[-2:]]
        )

    def check_polite(self, transcript: Sequence[Turn]) -> CheckResult:
        evidence: list[str] = []
        for i, turn in self._agent_turns(transcript):
            masked = mask(turn.text)
            norm = _normalize(masked)
            langs = self._langs(turn.text)
            for lang in langs:
                norm = self._m[(lang, "allowed")].blank(norm)
            for lang in langs:
                for m in self._m[(lang, "forbidden")].finditer(norm):
                    evidence.append(f"#{i} '{m.group()}': {_snippet(masked, m.start(), m.end())}")
        return CheckResult("polite", not evidence, evidence)

    def check_response_gaps(self, transcript: Sequence[Turn]) -> CheckResult:
        evidence: list[str] = []
        waiting: tuple[int, Turn] | None = None  # first customer turn not yet answered
        for i, turn in self._ordered(transcript):
            if turn.role == "customer" and waiting is None and not self._is_ack(turn.text):
                waiting = (i, turn)
            elif turn.role == "agent" and waiting is not None:
                gap = turn.at_us - waiting[1].at_us
                if gap > self._target_us:
                    evidence.append(
                        f"#{waiting[0]}->#{i} {_secs(gap)}s > {_secs(self._target_us)}s"
                    )
                waiting = None
        return CheckResult("response_gaps", not evidence, evidence)

    def check_unanswered(self, transcript: Sequence[Turn]) -> CheckResult:
        evidence: list[str] = []
        pending: list[int] = []
        for i, turn in self._ordered(transcript):
            if turn.role == "customer" and not self._is_ack(turn.text):
                pending.append(i)
            elif turn.role == "agent":
                pending.clear()
        evidence = [f"#{i} no agent reply" for i in pending]
        return CheckResult("unanswered", not evidence, evidence)

    def check_privacy(self, transcript: Sequence[Turn]) -> CheckResult:
        evidence = [
            f"#{i}: {m.kind}" for i, turn in self._agent_turns(transcript) for m in find_pii(turn.text)
        ]
        return CheckResult("privacy", not evidence, evidence)

    def run(self, transcript: Sequence[Turn]) -> list[CheckResult]:
        return [
            self.check_greeting(transcript),
            self.check_closing(transcript),
            self.check_polite(transcript),
            self.check_response_gaps(transcript),
            self.check_unanswered(transcript),
            self.check_privacy(transcript),
        ]


def _secs(us: int) -> str:
    s = us / US
    return str(int(s)) if s == int(s) else f"{s:.1f}"


def _snippet(text: str, start: int, end: int, context: int = 12) -> str:
    """Up to `context` chars around text[start:end] (whole text head when start == end == 0)."""
    if start == end == 0:
        return text[: 2 * context] + ("…" if len(text) > 2 * context else "")
    lo, hi = max(0, start - context), min(len(text), end + context)
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
