r"""Numbers: the final answer out of a worked solution, compared exactly.

Where the answer is: the last of ``\boxed{...}``, ``#### ...``, "final answer", "the answer is",
"Answer:", "答えは" / "答え:" / "正解は" wins (an earlier box or intermediate value does not); after a
marker, the value after the last ``=`` (``the answer is 4 + 3 = 7`` is 7); with no marker, the last
number of the text.

How it is read: thousands written with commas, dots, spaces, thin spaces, ``\!``, ``\,`` or ``{,}``
and decimal commas are told apart by the digit groups and by the text's own habit (``1.234,5 €`` is
1234.5, ``1,22`` is 1.22, ``1 000`` is 1000); units, superscripts and subscripts are never the value
(``15 m²`` is 15; ``204_5`` is the base-5 numeral ``204_5``); the arithmetic the answer writes is
evaluated exactly (:mod:`strategies.equivalence.mathexpr`: ``2^{10}`` is 1024, ``3\times10^{8}`` is
300000000, ``\frac3{3}`` is 1; roots and pi to 50 digits); ``50%``, ``50 percent``, ``50 pct``,
``50パーセント`` and ``5割`` are shares (1/2) unless the question asks for a percentage, where ``50%``
and ``50`` agree; ``3万``, ``2 million``, ``seven`` are read.

A wrong key is worse than no key: an answer whose value cannot be read with confidence (a list
``2 and 3`` or ``x = 5 or x = -5``, two boxes on one line, ``\pm 5``, a range ``5-10``, a ratio or a
time ``11:21``, a side of an inequality, mixed units ``2 hours and 30 minutes``, a variable ``2-2p``,
an unknown function ``\log 8``) gets no key.
Values compare exactly; a decimal of two or more places also matches the non-terminating value it
rounds (``0.33`` and ``1/3``, ``1.41`` and ``\sqrt{2}``), and values within 1e-9 relative match.

>>> m = NumberMatcher()
>>> [m.key(t).canonical for t in ["1/2", "0.5", r"\frac{1}{2}", "#### 1,000", "The answer is $3.50."]]
['1/2', '1/2', '1/2', '1000', '7/2']
>>> m.same(m.key("0.33"), m.key("1/3")), m.same(m.key("0.3"), m.key("1/3"))
(True, False)
>>> m.key(r"$\sqrt{17}$").canonical == m.key("17").canonical
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from strategies.equivalence import Key
from strategies.equivalence.numtext import Span, asks_percentage, find_value, prepare
from strategies.equivalence.text import normalize_text

__all__ = ["Number", "NumberMatcher", "asks_percentage", "extract_number"]

_REL_TOL = 1e-9
_IRRATIONAL_DIGITS = 30


@dataclass(frozen=True, slots=True)
class Number:
    """A value: ``value`` exact when rational, ``approx`` when not; ``numeral`` for another base."""

    value: Fraction | None
    places: int | None = None  # digits after the decimal point, when written as a decimal
    approx: Decimal | None = None
    numeral: str | None = None  # "204_5": a numeral in another base, compared as written


_PLAIN_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")


def extract_number(text: str, *, percent_is_share: bool = True) -> Number | None:
    """The final answer of ``text`` as a number, or None when it has none that reads with confidence."""
    bare = text.strip()
    if len(bare) <= 19 and _PLAIN_INTEGER.fullmatch(bare):  # "42": what the full reading gives, sooner
        return Number(Fraction(int(bare)))
    return _read_number(text, percent_is_share)


def _read_number(text: str, percent_is_share: bool) -> Number | None:
    span = find_value(prepare(text))
    if span is None:
        return None
    return _number(span, percent_is_share)


def _number(span: Span, percent_is_share: bool) -> Number:
    if span.numeral is not None:
        return Number(None, numeral=span.numeral)
    real = span.value
    assert real is not None
    factor = Fraction(span.scale)
    places = span.places if span.scale == 1 else None
    if span.percent and percent_is_share:
        factor /= 100
        places = None if places is None else places + 2
    if span.percent == "割":
        factor *= 10 if percent_is_share else 1000  # 3割 is 30%
        places = None
    if real.exact is not None:
        return Number(real.exact * factor, places)
    assert real.approx is not None
    return Number(None, places, approx=real.approx * Decimal(factor.numerator) / Decimal(factor.denominator))


def _canonical(number: Number) -> str:
    if number.numeral is not None:
        return number.numeral
    if number.value is None:
        assert number.approx is not None
        return "≈" + format(number.approx, f".{_IRRATIONAL_DIGITS}g")
    value = number.value
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _terminates(value: Fraction) -> bool:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _rounds_to(decimal: Number, other: Number) -> bool:
    """A decimal of 2+ places matches a value that does not terminate and rounds to it."""
    if decimal.value is None or decimal.places is None or decimal.places < 2:
        return False
    if other.value is not None and _terminates(other.value):
        return False
    target = other.approx if other.value is None else None
    step = Fraction(1, 10**decimal.places)
    if target is None:
        assert other.value is not None
        return abs(other.value - decimal.value) <= step / 2
    return abs(Fraction(target) - decimal.value) <= step / 2


class NumberMatcher:
    """Keys answers by their final number; percentages read as the question asks."""

    kind = "number"
    # Regular expressions and bounded arithmetic: about 0.4 ms for a 2,000-character answer, but more for
    # longer ones, so the caller keys off the event loop; short answers (2,000 characters in all, a few
    # tenths of a millisecond) are keyed on it, which costs less than a worker thread's hop.
    blocking = True
    inline_chars = 2000

    def __init__(self, question: str = "") -> None:
        self.percent_is_share = not asks_percentage(question)

    def key(self, text: str) -> Key:
        number = extract_number(text, percent_is_share=self.percent_is_share)
        if number is None:
            return Key(canonical=normalize_text(text), extracted=False)
        return Key(canonical=_canonical(number), value=number)

    def same(self, a: Key, b: Key) -> bool:
        if a.canonical == b.canonical and a.extracted == b.extracted:
            return True
        if not (a.extracted and b.extracted):
            return False
        x, y = a.value, b.value
        if x.numeral is not None or y.numeral is not None:
            return False
        if x.value is not None and y.value is not None:
            scale = max(abs(x.value), abs(y.value))
            if abs(x.value - y.value) <= _REL_TOL * scale:
                return True
        return _rounds_to(x, y) or _rounds_to(y, x)
