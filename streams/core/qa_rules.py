"""QA sampling rules file (rules/qa.yaml): load and validate (issue 5).

QA specialists review a daily sample of conversations: a random, stratified share of all of
them plus "targeted" pools of likely bad cases (low CSAT, SLA breached, reopened, ...). The
file is edited by hand, so it is validated like the SLA policy file (streams/core/policy.py),
reusing its YAML loader, line mapping and `PolicyError` rendering: every mistake is reported at
once as `file: key.path (line N): problem`.

The validated file becomes a frozen `QARules` object that `streams.core.qa_sampler.QASampler`
reads. Pure: the only I/O is reading the file in `load_qa_rules`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    StrictBool,
    ValidationError,
    model_validator,
)

from .policy import (
    _MAPPING_ERRORS,
    Loc,
    PolicyError,
    _did_you_mean,
    _problems,
    _raise,
    _show,
    _text,
    _version,
    parse_rules_yaml,
    pydantic_problems,
    read_rules_file,
)

__all__ = [
    "STRATA", "TARGETED_REASONS", "RANDOM", "BACKUP", "REASON_ORDER", "DEFAULT_WEIGHTS",
    "DEFAULT_ESCALATION_WORDS", "QARulesError", "Pool", "EscalationWords", "QARules",
    "load_qa_rules", "load_qa_rules_text",
]

STRATA = ("channel", "agent")
# Targeted pools, in the order reasons are listed on a sample (worst kind of case first).
TARGETED_REASONS = ("low_csat", "breached", "escalation_words", "reopened",
                    "abandoned_after_agent_joined", "long_handle_time")
RANDOM = "random"
BACKUP = "backup"
REASON_ORDER = TARGETED_REASONS + (RANDOM, BACKUP)
ROLES = ("customer", "agent", "bot", "system")

# Priority points a targeted reason adds to a sample (reviewers work highest priority first).
DEFAULT_WEIGHTS: dict[str, int] = {
    "low_csat": 40,
    "breached": 30,
    "escalation_words": 30,
    "reopened": 20,
    "abandoned_after_agent_joined": 20,
    "long_handle_time": 10,
}

DEFAULT_ESCALATION_WORDS: dict[str, tuple[str, ...]] = {
    "zh": ("投诉", "12315", "退款", "曝光", "律师", "起诉", "消协", "差评", "骗子"),
    "en": ("complaint", "refund", "lawyer", "chargeback", "sue", "scam", "cancel my account"),
}


class QARulesError(PolicyError):
    """Everything wrong with a QA rules file, one `file: key (line N): problem` line each."""

    def __reduce__(self):
        return (QARulesError, (self.file, self.problems))


# --------------------------------------------------------------------------- runtime objects


@dataclass(frozen=True, slots=True)
class Pool:
    """One targeted pool: on/off, its priority weight and its parameter (max_score, percentile)."""
    name: str
    enabled: bool
    weight: int
    max_score: int | None = None        # low_csat: CSAT <= max_score
    percentile: float | None = None     # long_handle_time: above the channel's pXX of the day
    min_conversations: int = 0          # long_handle_time: fewer in the channel-day -> no pool


@dataclass(frozen=True, slots=True)
class EscalationWords:
    enabled: bool
    weight: int
    words: tuple[tuple[str, tuple[str, ...]], ...]   # (language, words)
    roles: frozenset[str]                            # whose messages are searched


@dataclass(frozen=True, slots=True)
class QARules:
    version: str
    seed: int
    rate: float
    strata: tuple[str, ...]
    min_per_day: int
    max_per_day: int | None
    pools: tuple[Pool, ...]            # every targeted pool except escalation_words
    escalation: EscalationWords
    backup: bool
    source: str = "<rules>"

    def pool(self, name: str) -> Pool | None:
        for p in self.pools:
            if p.name == name:
                return p
        return None


# --------------------------------------------------------------------------- validators


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"must be a whole number, got {_show(v)}")
    return v


def _rate(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"must be a fraction between 0 and 1 like 0.07 (7%), got {_show(v)}")
    if v != v or not 0 <= v <= 1:
        hint = f"; for {v:g}% write {v / 100:g}" if 1 < v <= 100 else ""
        raise ValueError(f"rate {v!r} must be a fraction between 0 and 1 (0.07 samples 7%){hint}")
    return float(v)


def _strata(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ValueError(f"must be a list of dimensions among {', '.join(STRATA)}, got {_show(v)}")
    problems: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(v):
        if not isinstance(item, str) or item not in STRATA:
            shown = item if isinstance(item, str) else _show(item)
            problems.append(((i,), f"unknown stratum '{shown}' (allowed: {', '.join(STRATA)})"
                             + (_did_you_mean(item, STRATA) if isinstance(item, str) else "")))
        elif item in seen:
            problems.append(((i,), f"'{item}' listed twice"))
        else:
            seen.add(item)
    if problems:
        raise _problems(problems)
    return tuple(s for s in STRATA if s in seen)


def _count(minimum: int) -> Any:
    def validate(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"must be a whole number, got {_show(v)}")
        if v < minimum:
            raise ValueError(f"must be at least {minimum}, got {v}")
        return v
    return validate


def _optional_count(minimum: int) -> Any:
    inner = _count(minimum)
    return lambda v: None if v is None else inner(v)


def _max_score(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4:
        raise ValueError(f"must be a CSAT score from 1 to 4 (scores are 1-5), got {_show(v)}")
    return v


def _percentile(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"must be a percentile number like 90, got {_show(v)}")
    if v != v or not 0 < v < 100:
        hint = f"; for the {v * 100:g}th percentile write {v * 100:g}" if 0 < v < 1 else ""
        raise ValueError(f"percentile {v!r} must be strictly between 0 and 100 (e.g. 90){hint}")
    if 0 < v < 1:
        raise ValueError(f"percentile {v!r} looks like a fraction; write it out of 100 "
                         f"(e.g. 90 for the 90th percentile)")
    return float(v)


def _words(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ValueError(f"must be a list of words, got {_show(v)}")
    out: list[str] = []
    problems: list[tuple[Loc, str]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(v):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)  # 12315 (the consumer hotline) written without quotes
        try:
            word = _text(item, "a word")
        except ValueError as exc:
            problems.append(((i,), str(exc)))
            continue
        key = word.casefold()
        if key in seen:
            problems.append(((i,), f"'{word}' listed twice (first as item {seen[key]})"))
            continue
        seen[key] = i
        out.append(word)
    if problems:
        raise _problems(problems)
    return tuple(out)


def _roles(v: Any) -> frozenset[str]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"must be a non-empty list of roles among {', '.join(ROLES)}, "
                         f"got {_show(v)}")
    problems: list[tuple[Loc, str]] = []
    for i, item in enumerate(v):
        if item not in ROLES:
            shown = item if isinstance(item, str) else _show(item)
            problems.append(((i,), f"unknown role '{shown}' (allowed: {', '.join(ROLES)})"))
    if problems:
        raise _problems(problems)
    return frozenset(v)


# --------------------------------------------------------------------------- file models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Weight = Annotated[int | None, PlainValidator(_optional_count(0))]


class _SwitchModel(_Model):
    """A pool with no parameter: `breached: true`, or `{enabled: true, weight: 30}`."""
    enabled: StrictBool = True
    weight: _Weight = None


class _LowCsatModel(_SwitchModel):
    max_score: Annotated[int, PlainValidator(_max_score)] = 2


class _LongHandleModel(_SwitchModel):
    percentile: Annotated[float, PlainValidator(_percentile)] = 90.0
    min_conversations: Annotated[int, PlainValidator(_count(1))] = 20


class _EscalationModel(_SwitchModel):
    zh: Annotated[tuple[str, ...], PlainValidator(_words)] = ()
    en: Annotated[tuple[str, ...], PlainValidator(_words)] = ()
    roles: Annotated[frozenset[str], PlainValidator(_roles)] = frozenset({"customer"})

    @model_validator(mode="after")
    def _some_words(self) -> _EscalationModel:
        if self.enabled and not (self.zh or self.en):
            raise ValueError("lists no words: give zh and/or en word lists, or set it to false")
        return self


def _switch(model: type[_SwitchModel], defaults: dict[str, Any] | None = None) -> Any:
    """`true`/`false`/null or a mapping; true and null mean enabled with the defaults."""
    def before(v: Any) -> Any:
        if v is None or v is True:
            return dict(defaults or {})
        if v is False:
            return {"enabled": False}
        return v
    return Annotated[model, BeforeValidator(before)]


_ESCALATION_DEFAULTS = {lang: list(words) for lang, words in DEFAULT_ESCALATION_WORDS.items()}


class _TargetedModel(_Model):
    low_csat: _switch(_LowCsatModel) = _LowCsatModel()  # type: ignore[valid-type]
    breached: _switch(_SwitchModel) = _SwitchModel()  # type: ignore[valid-type]
    reopened: _switch(_SwitchModel) = _SwitchModel()  # type: ignore[valid-type]
    abandoned_after_agent_joined: _switch(_SwitchModel) = _SwitchModel()  # type: ignore[valid-type]
    long_handle_time: _switch(_LongHandleModel) = _LongHandleModel()  # type: ignore[valid-type]
    escalation_words: _switch(_EscalationModel, _ESCALATION_DEFAULTS) = _EscalationModel(  # type: ignore[valid-type]
        **_ESCALATION_DEFAULTS)


class _PerAgentModel(_Model):
    min_per_day: Annotated[int, PlainValidator(_count(0))] = 0
    max_per_day: Annotated[int | None, PlainValidator(_optional_count(1))] = None

    @model_validator(mode="after")
    def _min_le_max(self) -> _PerAgentModel:
        if self.max_per_day is not None and self.min_per_day > self.max_per_day:
            raise _problems([(("min_per_day",), f"min_per_day {self.min_per_day} is more than "
                                                f"max_per_day {self.max_per_day}")])
        return self


class _FileModel(_Model):
    version: Annotated[str, PlainValidator(_version)]
    seed: Annotated[int, PlainValidator(_seed)]
    rate: Annotated[float, PlainValidator(_rate)] = 0.07
    strata: Annotated[tuple[str, ...], PlainValidator(_strata)] = STRATA
    per_agent: _PerAgentModel = _PerAgentModel()
    targeted: _TargetedModel = _TargetedModel()
    backup: StrictBool = True


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] | None = _FileModel
    for part in loc:
        field = model.model_fields.get(part) if model is not None and isinstance(part, str) else None
        if field is None:
            return None
        ann = field.annotation
        meta_model = None
        for cand in (ann, *getattr(field, "metadata", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                meta_model = cand
        if meta_model is None and isinstance(field.default, BaseModel):
            meta_model = type(field.default)
        model = meta_model
    return model


def _qa_wording(loc: Loc, kind: str, value: Any, msg: str) -> str:
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = tuple(model.model_fields) if model is not None else ()
        what = "targeted pool" if loc[:-1] == ("targeted",) else "key"
        msg = f"unknown {what} '{loc[-1]}'"
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})" + _did_you_mean(str(loc[-1]), allowed)
    elif kind in _MAPPING_ERRORS:
        if loc and loc[0] == "targeted" and len(loc) == 2:
            msg = f"must be true, false or a mapping of settings, got {_show(value)}"
        elif not loc:
            msg = f"the file must be a mapping with keys version, seed, rate, ..., got {_show(value)}"
    return msg


def _pydantic_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    return pydantic_problems(exc, _qa_wording)


# --------------------------------------------------------------------------- loading


def load_qa_rules(path: str | os.PathLike) -> QARules:
    """Read and validate a QA rules file; QARulesError (naming file, key, line) on any problem."""
    return load_qa_rules_text(*read_rules_file(path, QARulesError, "QA rules file"))


def load_qa_rules_text(text: str, source: str = "<string>") -> QARules:
    data, lines, problems = parse_rules_yaml(
        text, source, QARulesError, "the file is empty (it needs at least version and seed)")
    model: _FileModel | None = None
    try:
        model = _FileModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
    if problems or model is None:
        try:
            _raise(source, problems, lines)
        except PolicyError as err:
            raise QARulesError(err.file, err.problems) from None
    assert model is not None
    return _build(model, source)


def _build(m: _FileModel, source: str) -> QARules:
    t = m.targeted

    def weight(name: str, pool: _SwitchModel) -> int:
        return DEFAULT_WEIGHTS[name] if pool.weight is None else pool.weight

    pools = (
        Pool("low_csat", t.low_csat.enabled, weight("low_csat", t.low_csat),
             max_score=t.low_csat.max_score),
        Pool("breached", t.breached.enabled, weight("breached", t.breached)),
        Pool("reopened", t.reopened.enabled, weight("reopened", t.reopened)),
        Pool("abandoned_after_agent_joined", t.abandoned_after_agent_joined.enabled,
             weight("abandoned_after_agent_joined", t.abandoned_after_agent_joined)),
        Pool("long_handle_time", t.long_handle_time.enabled,
             weight("long_handle_time", t.long_handle_time),
             percentile=t.long_handle_time.percentile,
             min_conversations=t.long_handle_time.min_conversations),
    )
    esc = t.escalation_words
    escalation = EscalationWords(
        enabled=esc.enabled, weight=weight("escalation_words", esc),
        words=tuple((lang, w) for lang, w in (("zh", esc.zh), ("en", esc.en)) if w),
        roles=esc.roles)
    return QARules(
        version=m.version, seed=m.seed, rate=m.rate, strata=m.strata,
        min_per_day=m.per_agent.min_per_day, max_per_day=m.per_agent.max_per_day,
        pools=pools, escalation=escalation, backup=m.backup, source=source)
