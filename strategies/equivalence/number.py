r"""Numbers: the final answer out of a worked solution, compared as exact rationals.

The answer is the number after a marker (``#### 42``, ``\boxed{42}``, "the
answer is 42", "答えは42"), else the last number in the text. ``1/2``,
``0.5``, ``\frac{1}{2}``, ``½``, ``1,000``, ``1000.0``, ``3万``, ``2 million``,
``seven`` and numbers with units (``$5``, ``42 apples``, ``5円``) are read.
A percentage is a share (``50%`` is ``1/2``) unless the question asks for a
percentage, where ``50%`` and ``50`` agree. Values compare exactly; a decimal
of two or more places also matches the non-terminating fraction it rounds
(``0.33`` and ``1/3``), and values within 1e-9 relative match (float noise).

>>> m = NumberMatcher()
>>> [m.key(t).canonical for t in ["1/2", "0.5", r"\frac{1}{2}", "#### 1,000", "The answer is $3.50."]]
['1/2', '1/2', '1/2', '1000', '7/2']
>>> m.same(m.key("0.33"), m.key("1/3")), m.same(m.key("0.3"), m.key("1/3"))
(True, False)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from strategies.equivalence import Key
from strategies.equivalence.text import normalize_text

__all__ = ["NumberMatcher", "asks_percentage", "extract_number"]

_MARKERS = [
    re.compile(r"####\s*([^\n]+)"),
    re.compile(r"\\boxed\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}"),
    re.compile(
        r"(?:final answer|the answer is|answer is|answer\s*[:：]|答えは|答え\s*[:：]|正解は|解答\s*[:：])"
        r"\s*[:：]?\s*([^\n]+)",
        re.IGNORECASE,
    ),
]
_FRAC = r"\\[dt]?frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}|\\[dt]?frac(\d)(\d)"
_PLAIN = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+"
_SCALE = r"\s*(thousand|million|billion|trillion|万|億|兆)?"
_PERCENT = r"\s*(%|\\%|percent\b|パーセント)?"
_NUMBER = re.compile(
    rf"(-|−)?\s*(?:{_FRAC}|(?P<num>{_PLAIN})\s*/\s*(?P<den>{_PLAIN})|(?P<plain>{_PLAIN})){_SCALE}{_PERCENT}"
)
_SCALES = {
    "thousand": 10**3,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
    "万": 10**4,
    "億": 10**8,
    "兆": 10**12,
}
_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
        " sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80})
_WORDS.update({"ninety": 90, "hundred": 100, "half": 0})
_ASKS_PERCENT = re.compile(r"percent|percentage|%|パーセント|百分率", re.IGNORECASE)
_REL_TOL = 1e-9


def asks_percentage(question: str) -> bool:
    return _ASKS_PERCENT.search(question) is not None


@dataclass(frozen=True, slots=True)
class Number:
    value: Fraction
    places: int | None  # digits after the decimal point, when written as a decimal


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("⁄", "/").replace("−", "-").replace("$", "").replace("\\,", "").replace("\\!", "")
    return text.replace("\\left", "").replace("\\right", "").replace("{,}", ",")


def _parse(match: re.Match[str], percent_is_share: bool) -> Number | None:
    groups = match.groups()
    sign = -1 if groups[0] else 1
    places: int | None = None
    try:
        if groups[1] is not None or groups[3] is not None:
            num, den = (groups[1], groups[2]) if groups[1] is not None else (groups[3], groups[4])
            value = Fraction(num) / Fraction(den)
        elif match.group("num") is not None:
            value = Fraction(match.group("num").replace(",", "")) / Fraction(
                match.group("den").replace(",", "")
            )
        else:
            plain = match.group("plain").replace(",", "")
            value = Fraction(plain)
            if "." in plain and "e" not in plain.lower():
                places = len(plain.split(".")[1])
    except (ValueError, ZeroDivisionError):
        return None
    scale, percent = groups[-2], groups[-1]
    if scale:
        value *= _SCALES[scale.lower()]
        places = None
    if percent and percent_is_share:
        value /= 100
        places = None if places is None else places + 2
    return Number(sign * value, places)


def extract_number(text: str, *, percent_is_share: bool = True) -> Number | None:
    """The final answer of ``text`` as a number, or None."""
    text = _clean(text)
    for marker in _MARKERS:
        found = marker.findall(text)
        if found:
            segment = found[-1]
            first = _NUMBER.search(segment)
            if first:
                return _parse(first, percent_is_share)
            word = _word_number(segment)
            if word is not None:
                return word
    matches = list(_NUMBER.finditer(text))
    if matches:
        return _parse(matches[-1], percent_is_share)
    return _word_number(text)


def _word_number(text: str) -> Number | None:
    words = normalize_text(text).replace("-", " ").split()
    if not words or len(words) > 3 or words[0] not in _WORDS or words[0] == "half":
        return None
    if words == ["one", "half"] or words == ["a", "half"]:
        return Number(Fraction(1, 2), None)
    total = _WORDS[words[0]]
    if len(words) > 1 and words[1] in _WORDS and _WORDS[words[1]] < 10 and total >= 20:
        total += _WORDS[words[1]]
    return Number(Fraction(total), None)


def _canonical(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _terminates(value: Fraction) -> bool:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _rounds_to(decimal: Number, other: Number) -> bool:
    if decimal.places is None or decimal.places < 2 or _terminates(other.value):
        return False
    step = Fraction(1, 10**decimal.places)
    return abs(other.value - decimal.value) <= step / 2


class NumberMatcher:
    """Keys answers by their final number; percentages read as the question asks."""

    kind = "number"
    blocking = False

    def __init__(self, question: str = "") -> None:
        self.percent_is_share = not asks_percentage(question)

    def key(self, text: str) -> Key:
        number = extract_number(text, percent_is_share=self.percent_is_share)
        if number is None:
            return Key(canonical=normalize_text(text), extracted=False)
        return Key(canonical=_canonical(number.value), value=number)

    def same(self, a: Key, b: Key) -> bool:
        if a.canonical == b.canonical and a.extracted == b.extracted:
            return True
        if not (a.extracted and b.extracted):
            return False
        x, y = a.value, b.value
        scale = max(abs(x.value), abs(y.value))
        if abs(x.value - y.value) <= _REL_TOL * scale:
            return True
        return _rounds_to(x, y) or _rounds_to(y, x)
