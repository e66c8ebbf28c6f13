r"""Finding the one number an answer gives: text normalisation, answer markers and value spans.

:func:`prepare` folds the ways a number is written into one (Unicode width, LaTeX spacing and
fractions, superscripts and subscripts kept apart from the digits, thousands separators and decimal
commas resolved by the digit groups and the text's locale). :func:`find_value` then reads the final
answer: the last marker (box, ``####``, "final answer", "the answer is", "答えは", ...) that holds a
value, else the last value in the text. It returns None when the value is not clear (a list, a range,
a variable), so the matcher leaves the answer unkeyed.

>>> find_value(prepare("1.234,5 €")).value.exact
Fraction(2469, 2)
>>> find_value(prepare("The answer is 2 and 3.")) is None
True
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from strategies.equivalence.mathexpr import NotANumber, Real, evaluate

__all__ = ["Prepared", "Span", "asks_percentage", "find_value", "prepare"]

_THIN = "\x01"  # a thin space between digit groups, kept apart from an ordinary space
_SCRIPTS = str.maketrans(
    {**{c: "^" + str(i) for i, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")}, "⁻": "^-"}
    | {c: "_" + str(i) for i, c in enumerate("₀₁₂₃₄₅₆₇₈₉")}
)
_HAS_SCRIPTS = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻₀₁₂₃₄₅₆₇₈₉]")
_LATEX_TEXT = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}"
)
_NUMBER_RUN = re.compile(r"\d+(?:(?:[.,\x01]|[ ](?=\d{3}(?!\d)))\d+)+")  # digits with separators
_EU = re.compile(r"\d{1,3}(?:\.\d{3})+,\d|\d\.\d{3}\.\d{3}(?![\d,])")
_EN = re.compile(r"\d{1,3}(?:,\d{3})+\.\d|\d,\d{3},\d{3}(?![\d.])")
_ASKS_PERCENT = re.compile(r"percent|percentage|%|％|パーセント|百分率|何割", re.IGNORECASE)

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_MARKER = re.compile(
    r"final answer\s*(?:is|[:：])?|(?:the\s+)?answer\s*(?:is\b|[:：=])"
    r"|答えは|答え\s*[:：]|正解は|正解\s*[:：]|解答\s*[:：]|回答\s*[:：]|答\s*[:：]|####",
    re.IGNORECASE,
)
_RUN = re.compile(
    r"(?:\\(?:frac|sqrt|times|cdot|div|pi)(?![a-zA-Z])|π|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+"
    r"|\*\*|[-+*/^(){}\[\]]|[ \t])+"
)
_HAS_DIGIT = re.compile(r"\d|\\pi|π")
_AFTER = re.compile(r"[\s$}\\)\]]*")
_SCALE = re.compile(r"(thousand|million|billion|trillion|万|億|兆)", re.IGNORECASE)
_PERCENT = re.compile(r"(%|per\s?cent(?:age)?\b|pct\b|パーセント|割)", re.IGNORECASE)
_LIST = re.compile(r"\s*(?:,|;|&|、|と|\band\b|\bor\b|または)\s*[-(]?\s*\d")
# a value that ends a list: "2, 3", "19, 46, and 82", "x = 5 or x = -5", "$21,16$ or $11$", "p=-1,p=15/8"
_LIST_BEFORE = re.compile(
    r"\d[\s$})\\]*(?:(?:,|;|、|と|\band\b|\bor\b|または)[\s$({\\]*)+"
    r"(?:(?:[A-Za-z][A-Za-z0-9_{}]*|\\boxed\s*\{)\s*=?\s*)?[\s$({\\]*$"
)
_BEFORE_EQUALS = re.compile(r"\d[\s$})\\]*(?:,|;|、|\band\b|\bor\b)")
# mixed units: "2 hours and 30 minutes", "5 feet 11 inches", "2時間30分" are not one number
_BIG_UNIT = (
    r"(?:hours?|hrs?|h|days?|weeks?|months?|years?|yrs?|feet|foot|ft|yards?|yds?|miles?|pounds?|lbs?|kg"
    r"|kilograms?|meters?|metres?|m|km|dollars?|euros?|minutes?|mins?|degrees?|時間|年|か月|ヶ月|日|週間|分|ドル|フィート|メートル)"
)
_SMALL_UNIT = (
    r"(?:minutes?|mins?|min|seconds?|secs?|s|inches?|ounces?|oz|cents?|pence|months?|days?|hours?|hrs?|feet|ft"
    r"|cm|mm|grams?|g|分|秒|か月|ヶ月|日|時間|インチ|セント|センチ)"
)
_COMPOUND_AFTER = re.compile(
    rf"\s*{_BIG_UNIT}\s*(?:,|\band\b|と)?\s*\d[\d.]*\s*{_SMALL_UNIT}(?![A-Za-z])", re.IGNORECASE
)
_COMPOUND_BEFORE = re.compile(rf"\d\s*{_BIG_UNIT}\s*(?:,|\band\b|と)?\s*$", re.IGNORECASE)
_SMALL_AFTER = re.compile(rf"\s*{_SMALL_UNIT}(?![A-Za-z])", re.IGNORECASE)
_PLUS_MINUS = re.compile(r"(?:±|∓|\\pm|\\mp)\s*$")
_INEQUALITY = re.compile(r"(?:[<>≤≥≦≧]|\\(?:le|ge|leq|geq|lt|gt|leqslant|geqslant))\s*$")
_SUBSCRIPT = re.compile(r"_\{?(\d+)\}?")
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SCALES.update({"万": 10**4, "億": 10**8, "兆": 10**12})
_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
        " sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update(
    {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
)
_WORDS["hundred"] = 100


def asks_percentage(question: str) -> bool:
    return _ASKS_PERCENT.search(question) is not None


@dataclass(frozen=True, slots=True)
class Span:
    """One value read from the text."""

    value: Real | None
    places: int | None = None
    percent: str | None = None
    scale: int = 1
    numeral: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    text: str
    math: tuple[tuple[int, int], ...]  # (start, end) of math-mode stretches, sorted

    def in_math(self, pos: int) -> bool:
        i = bisect_right(self.math, (pos, len(self.text) + 1)) - 1
        return i >= 0 and self.math[i][0] <= pos < self.math[i][1]


def prepare(text: str) -> Prepared:
    if _HAS_SCRIPTS.search(text):
        text = text.translate(_SCRIPTS)
    text = re.sub(r"[\u2009\u202f\u00a0]", _THIN, text)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("−", "-").replace("⁄", "/").replace("×", r"\times ").replace("÷", r"\div ")
    if "\\" in text or "~" in text:
        text = _latex(text)
    text = text.replace("{,}", ",")
    text = re.sub(r"°", " ", text).replace("≈", " ≈ ")
    text = _digit_groups(text)
    return Prepared(text, _math_stretches(text))


def _latex(text: str) -> str:
    """LaTeX spacing, fractions, roots, text and degree signs, in the forms the reader knows."""
    text = re.sub(r"\\!\s*", "", text)
    text = re.sub(r"(?<=\d)(?:\\,|\\ |~|\\;|\\:)(?=\d)", _THIN, text)
    text = re.sub(r"\\(?:left|right|displaystyle|bigl?|Bigl?|bigr|Bigr)(?![a-zA-Z])", "", text)
    text = re.sub(r"\\[dtc]frac(?![a-zA-Z])", r"\\frac", text)
    text = _LATEX_TEXT.sub(r" \1 ", text)
    text = text.replace("\\%", "%").replace("\\$", " ").replace("＄", " ")
    text = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", text)
    text = re.sub(r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}", text)
    text = re.sub(r"\\sqrt\s*(\d+)", r"\\sqrt{\1}", text)
    text = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", " ", text)
    return re.sub(r"\\approx(?![a-zA-Z])", " ≈ ", text)


def _digit_groups(text: str) -> str:
    eu = _EU.search(text) is not None and _EN.search(text) is None

    def fix(match: re.Match[str]) -> str:
        run = match.group()
        seps = re.findall(r"[.,\x01 ]", run)
        if not seps:
            return run
        groups = re.split(r"[.,\x01 ]", run)
        thousands_ok = len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:-1])
        last, others = seps[-1], set(seps[:-1])
        if others and last in ".," and last not in others:
            if (thousands_ok and len(others) == 1) or others <= {" ", _THIN}:
                return "".join(groups[:-1]) + "." + groups[-1] if thousands_ok else run
            return run
        sep = seps[0]
        if len(set(seps)) > 1:
            return run
        grouped = thousands_ok and len(groups[-1]) == 3
        if sep in (" ", _THIN):
            return "".join(groups) if grouped else run.replace(_THIN, " ")
        if len(seps) > 1:
            return "".join(groups) if grouped else run
        bracketed = _bracketed(text, match.start(), match.end())
        if sep == ",":
            if grouped and groups[0] != "0" and not eu:
                return "".join(groups)
            return run if bracketed else groups[0] + "." + groups[1]
        if grouped and groups[0] != "0" and eu:
            return "".join(groups)
        return run

    return _NUMBER_RUN.sub(fix, text)


def _bracketed(text: str, start: int, end: int) -> bool:
    before = text[:start].rstrip(" -")[-1:]
    after = text[end:].lstrip(" ")[:1]
    return before in ("(", "[", "{") or after in (")", "]", "}")


def _math_stretches(text: str) -> tuple[tuple[int, int], ...]:
    found = [
        m.span() for m in re.finditer(r"\$\$.+?\$\$|\$[^$]+?\$|\\\(.+?\\\)|\\\[.+?\\\]", text, re.DOTALL)
    ]
    for m in _BOX.finditer(text):
        found.append((m.start(), _closing(text, m.end())))
    return tuple(sorted(found))


def _closing(text: str, pos: int) -> int:
    """The index of the brace closing the group that starts at ``pos`` (or the end of the text)."""
    depth = 1
    for i in range(pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


# -- reading -------------------------------------------------------------------------------

_AMBIGUOUS = object()  # a value that cannot be read with confidence: the answer stays unkeyed
_ATTACHED = object()  # digits that belong to something else (a name, a unit's power, a subscript): skipped
_FUNCTIONS = re.compile(
    r"\\(?:log|ln|lg|exp|sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh"
    r"|max|min|gcd|lcm|binom|det|lim|sum|prod|int)\s*$"
)


def find_value(prepared: Prepared) -> Span | None:
    """The final answer's value, or None when there is none that reads with confidence."""
    text = prepared.text
    regions: list[tuple[int, int, bool]] = []  # (start, end, boxed)
    for m in _BOX.finditer(text):
        regions.append((m.end(), _closing(text, m.end()), True))
    for m in _MARKER.finditer(text):
        regions.append((m.end(), _sentence_end(text, m.end()), False))
    boxes = [(start, end) for start, end, boxed in regions if boxed]
    for start, end, boxed in sorted(regions, key=lambda r: -r[0]):
        found = _read_region(prepared, start, end, boxed)
        if found is _AMBIGUOUS:
            return None
        if isinstance(found, Span):
            if boxed and not _box_stands_alone(prepared, boxes, start, found):
                return None
            return found
    spans = _last_spans(prepared, 2)
    if not spans:
        return _word_number(text)
    last, start, end = spans[-1]
    if len(spans) > 1 and re.fullmatch(r"\s*≈\s*", text[spans[-2][2] : start]):
        last, start, end = spans[-2]  # x = 1/3 ≈ 0.33: the exact value
    if not isinstance(last, Span) or _LIST.match(text, end) or _in_list_before(text, start):
        return None
    return last


def _box_stands_alone(prepared: Prepared, boxes: list[tuple[int, int]], start: int, found: Span) -> bool:
    """Whether the box at ``start`` is the one answer of its line: an earlier box on the same line that
    holds another value makes two answers (``\boxed{1} and \boxed{-2}``), not a corrected one."""
    text = prepared.text
    line_start = text.rfind("\n", 0, start) + 1
    for other_start, other_end in boxes:
        if line_start <= other_start < start:
            other = _read_region(prepared, other_start, other_end, True)
            if not isinstance(other, Span) or (other.value, other.numeral, other.percent, other.scale) != (
                found.value,
                found.numeral,
                found.percent,
                found.scale,
            ):
                return False
    return True


def _sentence_end(text: str, pos: int) -> int:
    m = re.compile(r"\n|。|\.(?=\s|$)").search(text, pos)
    return m.start() if m else len(text)


def _read_region(prepared: Prepared, start: int, end: int, boxed: bool) -> object:
    text = prepared.text
    segment = text[start:end]
    if "=" in segment:
        pieces = segment.split("=")
        if _BEFORE_EQUALS.search(pieces[-2]):
            return _AMBIGUOUS  # x = -5, p = 14/3: two answers
        start += segment.rindex("=") + 1
    spans = list(_spans(prepared, start, end))
    if not spans:
        word = _word_number(text[start:end])
        return word if word is not None else None
    first, _, first_end = spans[0]
    if not isinstance(first, Span):
        return _AMBIGUOUS
    if _LIST.match(text, first_end) or (boxed and len(spans) > 1):
        return _AMBIGUOUS
    return first


def _in_list_before(text: str, start: int) -> bool:
    return _LIST_BEFORE.search(text, max(0, start - 40), start) is not None


def _spans(prepared: Prepared, start: int, end: int) -> Iterator[tuple[object, int, int]]:
    """(Span or _AMBIGUOUS, start, end) for each stretch of arithmetic between ``start`` and ``end``."""
    for m in _RUN.finditer(prepared.text, start, end):
        found = _run_span(prepared, m)
        if found is not None:
            yield found


def _last_spans(prepared: Prepared, count: int) -> list[tuple[object, int, int]]:
    """The last ``count`` stretches of arithmetic of the text, in order (read from the end: fast)."""
    found: list[tuple[object, int, int]] = []
    for m in reversed(list(_RUN.finditer(prepared.text))):
        span = _run_span(prepared, m)
        if span is not None:
            found.insert(0, span)
            if len(found) == count:
                break
    return found


def _run_span(prepared: Prepared, m: re.Match[str]) -> tuple[object, int, int] | None:
    text = prepared.text
    run = m.group()
    if not _HAS_DIGIT.search(run):
        return None
    lead = len(run) - len(run.lstrip(" \t"))
    s, e = _trim(text, m.start() + lead, m.start() + len(run.rstrip(" \t")))
    if s >= e:
        return None
    span = _span(prepared, s, e)
    return None if span is _ATTACHED else (span, s, e)


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop trailing operators and unbalanced brackets at either end."""
    changed = True
    while changed and s < e:
        changed = False
        piece = text[s:e]
        if piece[-1] in "-+*/^ " or (piece[-1] in ")}]" and _depth(piece) < 0):
            e -= 1
            changed = True
        elif piece[0] in "({[" and _depth(piece) > 0:
            s += 1
            changed = True
        elif piece[0] in " )}]":
            s += 1
            changed = True
    return s, e


def _depth(piece: str) -> int:
    return sum(piece.count(c) for c in "({[") - sum(piece.count(c) for c in ")}]")


def _span(prepared: Prepared, s: int, e: int) -> object:
    text = prepared.text
    run = text[s:e]
    before = text[s - 1] if s > 0 else " "
    if _latin(before) or before in "_^" or (before == "-" and s > 1 and _latin(text[s - 2])):
        return _ATTACHED  # part of a name, a unit's power or a subscript: COVID-19, m^2, a_3
    if run[0] in "*/^":
        return _ATTACHED
    if _FUNCTIONS.search(text, max(0, s - 12), s):
        return _AMBIGUOUS  # \log 8 is not 8
    after = text[e : e + 2]
    math = prepared.in_math(s)
    if math and _latin(after[:1]) and not _latin(after[1:2]):
        return _AMBIGUOUS  # a variable: 2-2p, 3x
    if after[:1] == "!":
        return _AMBIGUOUS  # a factorial
    if not math and re.fullmatch(r"\d+(?:-\d+)+", run):
        return _AMBIGUOUS  # a range or a date: 5-10, 2024-01-05
    sub = _SUBSCRIPT.match(text, e)
    if sub and run.isdigit():
        base = int(sub.group(1))
        if base != 10:
            if not 2 <= base <= 36 or any(int(d, 36) >= base for d in run):
                return _AMBIGUOUS
            return Span(None, numeral=f"{run}_{base}")
        e = sub.end()
    if _not_one_value(text, s, e):
        return _AMBIGUOUS
    try:
        value = evaluate(run)
    except (NotANumber, ValueError, ArithmeticError):
        return _AMBIGUOUS
    places = len(run.split(".")[1]) if re.fullmatch(r"-?\d*\.\d+", run.replace(" ", "")) else None
    return Span(value, places, *_suffix(text, e))


def _not_one_value(text: str, s: int, e: int) -> bool:
    """A value that is only part of the answer: one of ±, a side of an inequality, a ratio or a time
    (``11:21``, ``12:00``), or one part of a quantity in mixed units (``2 hours and 30 minutes``)."""
    if _PLUS_MINUS.search(text, max(0, s - 8), s) or _INEQUALITY.search(text, max(0, s - 12), s):
        return True
    if (text[e : e + 1] == ":" and text[e + 1 : e + 2].isdigit()) or (
        text[s - 1 : s] == ":" and text[s - 2 : s - 1].isdigit()
    ):
        return True
    if _COMPOUND_AFTER.match(text, e, min(len(text), e + 40)):
        return True
    return bool(_COMPOUND_BEFORE.search(text, max(0, s - 30), s) and _SMALL_AFTER.match(text, e, e + 12))


def _latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _suffix(text: str, e: int) -> tuple[str | None, int]:
    """The percent sign and scale word after a value: (percent, scale)."""
    pos = _AFTER.match(text, e).end()  # type: ignore[union-attr]
    scale = 1
    m = _SCALE.match(text, pos)
    if m:
        scale = _SCALES[m.group(1).lower()]
        pos = _AFTER.match(text, m.end()).end()  # type: ignore[union-attr]
    m = _PERCENT.match(text, pos)
    percent = None if m is None else ("割" if m.group(1) == "割" else "%")
    return percent, scale


def _word_number(text: str) -> Span | None:
    words = re.sub(r"[^\w\s-]", " ", text.lower()).replace("-", " ").split()
    if words[:3] in (["the", "answer", "is"],):
        words = words[3:]
    if not words or len(words) > 3 or words[0] not in _WORDS:
        return None
    total = _WORDS[words[0]]
    rest = words[1:]
    if rest and rest[0] in _WORDS and _WORDS[rest[0]] < 10 and 20 <= total < 100:
        total += _WORDS[rest[0]]
        rest = rest[1:]
    if rest and (rest[0] in _WORDS or rest[0].isdigit()):
        return None
    return Span(Real(Fraction(total)))
