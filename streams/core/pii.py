"""Detect and mask personal data (PII) in support transcripts. Pure: no I/O, no wall clock.

Kinds and their mask tokens (`MASK_TOKENS`):

| kind       | what                                                               | token     |
|------------|--------------------------------------------------------------------|-----------|
| `phone`    | mainland China mobile `1[3-9]` + 9 digits; optional `+86`/`0086`/`86` prefix, spaces or dashes (3-4-4) | `[PHONE]` |
| `landline` | `0` + 2-3 digit area code written with a dash, space or parentheses, then 7-8 digits, optional extension (`转123`, `ext 123`) | `[PHONE]` |
| `email`    | `local@domain.tld`                                                 | `[EMAIL]` |
| `card`     | bank card, 13-19 digits, contiguous or in groups separated by single spaces/dashes; **only when the Luhn check passes** | `[CARD]`  |
| `id`       | 18-char resident ID (17 digits + digit/X, optionally split 6-8-4); **only when the ISO 7064 MOD 11-2 check digit is right and the birth date is a real date (1900-2099)** | `[ID]`    |

Full-width digits/letters (１３８…, ＠) are detected too; `value` is always the original text.

Deliberately not masked:
- digit runs glued to ASCII letters (tracking / waybill codes such as `SF1234567890123`, `EA123456789CN`);
- numbers that fail their checksum (most order numbers, e.g. `2026111100012345`);
- a card-shaped number right after an order / tracking label (`订单号`, `运单号`, `order no.`, `tracking number`, ...),
  even if it happens to pass Luhn (which one in ten random numbers does);
- dates, times, prices, service hotlines (`400-...`, `95xxx`), old 15-digit IDs.

Overlapping candidates are resolved longest-first (ties: id > card > email > phone > landline), so the
result never overlaps and `mask` is well defined.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["MASK_TOKENS", "PiiMatch", "cn_id_ok", "find_pii", "luhn_ok", "mask"]

MASK_TOKENS: dict[str, str] = {
    "phone": "[PHONE]",
    "landline": "[PHONE]",
    "email": "[EMAIL]",
    "card": "[CARD]",
    "id": "[ID]",
}

_PRIORITY = {"id": 0, "card": 1, "email": 2, "phone": 3, "landline": 4}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str  # one of MASK_TOKENS' keys
    start: int  # offsets into the original text, end exclusive
    end: int
    value: str  # the raw matched text (never log or export this)


# --- checksums ------------------------------------------------------------------------------

_SEPARATORS = str.maketrans("", "", " -")


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check. Spaces and dashes are ignored; anything else non-digit -> False."""
    s = str(digits).translate(_SEPARATORS)
    if not s or not s.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
_ID_CHECK = "10X98765432"


def cn_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def cn_id_ok(s: str) -> bool:
    """18-char mainland resident ID: checksum right and birth date (chars 7-14) a real date.

    Spaces/dashes are ignored and a lowercase `x` is accepted.
    """
    v = str(s).translate(_SEPARATORS).upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    if v[0] == "0" and v.isascii():
        return False  # no region code starts with 0
    try:
        year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
        date(year, month, day)
    except ValueError:
        return False
    if not 1900 <= year <= 2099:
        return False
    return cn_id_check_char(v[:17]) == v[17]


# --- detectors ------------------------------------------------------------------------------

_NB = r"(?<![0-9A-Za-z])"  # left edge: not inside a number or an ASCII code (CJK text is fine)
_NA = r"(?![0-9A-Za-z])"  # right edge

_PHONE_RE = re.compile(_NB + r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}" + _NA)
_LANDLINE_RE = re.compile(
    r"(?<![0-9A-Za-z(])(?:\(0\d{2,3}\)[ -]?|0\d{2,3}[ -])\d{7,8}"
    r"(?:[ -]?(?:转|ext\.?[ ]?|x)\d{1,5})?" + _NA
)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    r"(?![A-Za-z])"
)
_ID_RE = re.compile(_NB + r"\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx]" + _NA)
# A maximal run of digit groups joined by single spaces/dashes; cards are looked for inside it.
_RUN_RE = re.compile(r"\d+(?:[ -]\d+)*")
_ORDER_LABEL_RE = re.compile(
    r"(?:(?:订单|运单|快递单?|物流单?|包裹|退款单?|售后单?|工单|单)(?:号码?|编号)?"
    r"|(?:order|tracking|waybill|parcel|shipment|ticket)(?:\s*(?:no\.?|number|id|code|#))?)"
    r"\s*[:：#]?\s*(?:是|为|is)?\s*$",
    re.IGNORECASE,
)


def _is_ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _card_candidates(text: str) -> list[PiiMatch]:
    out: list[PiiMatch] = []
    for run in _RUN_RE.finditer(text):
        rs, re_ = run.start(), run.end()
        if (rs > 0 and (_is_ascii_letter(text[rs - 1]) or text[rs - 1].isdigit())) or (
            re_ < len(text) and _is_ascii_letter(text[re_])
        ):
            continue  # part of a tracking code / alphanumeric reference
        if _ORDER_LABEL_RE.search(text[max(0, rs - 24) : rs]):
            continue
        groups = [(m.start() + rs, m.end() + rs) for m in re.finditer(r"\d+", run.group())]
        i = 0
        while i < len(groups):
            best = None
            n_digits = 0
            for j in range(i, len(groups)):
                g_len = groups[j][1] - groups[j][0]
                n_digits += g_len
                if n_digits > 19:
                    break
                if 13 <= n_digits:
                    value = text[groups[i][0] : groups[j][1]]
                    if luhn_ok(value):
                        best = j
                if g_len < 4:  # only the last group of a card may be shorter than 4 digits
                    break
            if best is None:
                i += 1
                continue
            start, end = groups[i][0], groups[best][1]
            out.append(PiiMatch("card", start, end, text[start:end]))
            i = best + 1
    return out


def _candidates(text: str) -> list[PiiMatch]:
    found: list[PiiMatch] = []
    for m in _ID_RE.finditer(text):
        if cn_id_ok(m.group()):
            found.append(PiiMatch("id", m.start(), m.end(), m.group()))
    found.extend(_card_candidates(text))
    for kind, rx in (("email", _EMAIL_RE), ("phone", _PHONE_RE), ("landline", _LANDLINE_RE)):
        found.extend(PiiMatch(kind, m.start(), m.end(), m.group()) for m in rx.finditer(text))
    return found


# Full-width digits, letters and punctuation (common in Chinese input methods) -> ASCII. One char to
# one char, so offsets found in the normalized text are valid in the original.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20


def find_pii(text: str) -> list[PiiMatch]:
    """All PII in `text`, non-overlapping, ordered by position. `value` is the original text."""
    if not text:
        return []
    chosen: list[PiiMatch] = []
    norm = text.translate(_FULLWIDTH)
    candidates = [PiiMatch(c.kind, c.start, c.end, text[c.start : c.end]) for c in _candidates(norm)]
    for c in sorted(candidates, key=lambda m: (m.start - m.end, _PRIORITY[m.kind], m.start)):
        if all(c.end <= k.start or c.start >= k.end for k in chosen):
            chosen.append(c)
    chosen.sort(key=lambda m: m.start)
    return chosen


def mask(text: str) -> str:
    """`text` with every PII match replaced by its token from MASK_TOKENS (e.g. `[PHONE]`)."""
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(MASK_TOKENS[m.kind])
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)
