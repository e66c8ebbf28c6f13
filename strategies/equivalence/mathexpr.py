r"""Safe evaluation of the arithmetic an answer writes: exact for rationals, 50 digits for roots and pi.

``evaluate`` reads numbers, ``+ - * / ^``, ``\times``, ``\cdot``, ``\div``, parentheses and braces,
``\frac{a}{b}``, ``\sqrt{x}``, ``\sqrt[n]{x}`` and ``\pi``; anything else (a variable, a function,
a comma) raises :class:`NotANumber`, so the caller leaves the answer unkeyed rather than keying a
number the answer merely contains. Powers are bounded (the result at most 20,000 bits), so no answer
can make keying slow. Rationals stay exact (:class:`fractions.Fraction`); a root that is not rational,
or pi, makes the value irrational, carried as a 50-digit :class:`decimal.Decimal`.

>>> [str(evaluate(t).exact) for t in [r"2^{10}", r"3\times10^{8}", r"\frac{1}{2} + 0.25"]]
['1024', '300000000', '3/4']
>>> str(evaluate(r"\sqrt{17}").approx)[:12]
'4.1231056256'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

__all__ = ["NotANumber", "Real", "evaluate"]

_PRECISION = 50
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
_MAX_BITS = 20_000
_MAX_TOKENS = 200
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<cmd>\\(?:frac|sqrt|times|cdot|div|pi))(?![a-zA-Z])|(?P<op>\*\*|[-+*/^(){}\[\]])|(?P<pi>π))"
)


class NotANumber(ValueError):
    """The text is not arithmetic that evaluates to one number."""


@dataclass(frozen=True, slots=True)
class Real:
    """A value: ``exact`` when rational, else ``approx`` to 50 significant digits."""

    exact: Fraction | None
    approx: Decimal | None = None

    def decimal(self) -> Decimal:
        if self.exact is not None:
            with localcontext() as ctx:
                ctx.prec = _PRECISION
                return Decimal(self.exact.numerator) / Decimal(self.exact.denominator)
        assert self.approx is not None
        return self.approx


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise NotANumber(f"cannot read {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        if len(tokens) > _MAX_TOKENS:
            raise NotANumber("too long")
    return tokens


def evaluate(text: str) -> Real:
    """The value of ``text``; raises :class:`NotANumber` when it is not plain arithmetic."""
    parser = _Parser(_tokens(text))
    value = parser.expression()
    if parser.pos != len(parser.tokens):
        raise NotANumber("trailing input")
    return value


def _irrational(value: Decimal) -> Real:
    return Real(None, value)


def _combine(a: Real, b: Real, op: str) -> Real:
    if a.exact is not None and b.exact is not None:
        x, y = a.exact, b.exact
        if op == "+":
            return Real(x + y)
        if op == "-":
            return Real(x - y)
        if op == "*":
            return Real(x * y)
        if y == 0:
            raise NotANumber("division by zero")
        return Real(x / y)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        p, q = a.decimal(), b.decimal()
        if op == "+":
            return _irrational(p + q)
        if op == "-":
            return _irrational(p - q)
        if op == "*":
            return _irrational(p * q)
        if q == 0:
            raise NotANumber("division by zero")
        return _irrational(p / q)


def _power(base: Real, exponent: Real) -> Real:
    if exponent.exact is None:
        raise NotANumber("irrational exponent")
    e = exponent.exact
    if base.exact is not None and e.denominator == 1:
        size = max(base.exact.numerator.bit_length(), base.exact.denominator.bit_length())
        if size * abs(e.numerator) > _MAX_BITS:
            raise NotANumber("too large")
        if base.exact == 0 and e < 0:
            raise NotANumber("division by zero")
        return Real(base.exact**e.numerator)
    if base.exact is not None:
        root = _exact_root(base.exact, e.denominator)
        if root is not None:
            return _power(Real(root), Real(Fraction(e.numerator)))
    value = base.decimal()
    if value <= 0 or abs(e) > 1000:
        raise NotANumber("no real power")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _irrational(value ** (Decimal(e.numerator) / Decimal(e.denominator)))


def _exact_root(value: Fraction, n: int) -> Fraction | None:
    if value < 0 or n > 64:
        return None
    num, den = _int_root(value.numerator, n), _int_root(value.denominator, n)
    return Fraction(num, den) if num is not None and den is not None else None


def _int_root(value: int, n: int) -> int | None:
    if value.bit_length() > _MAX_BITS:
        return None
    guess = round(value ** (1.0 / n)) if value.bit_length() < 1000 else _newton_root(value, n)
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**n == value:
            return candidate
    return None


def _newton_root(value: int, n: int) -> int:
    x = 1 << (value.bit_length() // n + 1)
    while True:
        y = ((n - 1) * x + value // x ** (n - 1)) // n
        if y >= x:
            return x
        x = y


class _Parser:
    """expression := term (('+'|'-') term)*; term := unary (('*'|'/'|implied) unary)*;
    unary := '-' unary | power; power := atom ('^' unary)?"""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise NotANumber(f"expected {value or 'more'}")
        self.pos += 1
        return token

    def expression(self) -> Real:
        value = self.term()
        while (token := self.peek()) is not None and token[1] in ("+", "-"):
            self.pos += 1
            value = _combine(value, self.term(), token[1])
        return value

    def term(self) -> Real:
        value = self.unary()
        while (token := self.peek()) is not None:
            if token[1] in ("*", "/", "\\times", "\\cdot", "\\div"):
                self.pos += 1
                value = _combine(value, self.unary(), "/" if token[1] in ("/", "\\div") else "*")
            elif token[1] in ("(", "{", "\\frac", "\\sqrt", "\\pi", "π"):
                value = _combine(value, self.unary(), "*")  # implied product: 2(3+1), 3\sqrt{2}, 2\pi
            else:
                break
        return value

    def unary(self) -> Real:
        token = self.peek()
        if token is not None and token[1] in ("-", "+"):
            self.pos += 1
            value = self.unary()
            return _combine(Real(Fraction(0)), value, "-") if token[1] == "-" else value
        return self.power()

    def power(self) -> Real:
        base = self.atom()
        token = self.peek()
        if token is not None and token[1] in ("^", "**"):
            self.pos += 1
            return _power(base, self.unary())
        return base

    def group(self) -> Real:
        opener = self.take()[1]
        closer = {"(": ")", "{": "}", "[": "]"}.get(opener)
        if closer is None:
            raise NotANumber("expected a group")
        value = self.expression()
        self.take(closer)
        return value

    def argument(self) -> Real:
        token = self.peek()
        if token is not None and token[1] == "{":
            return self.group()
        return self.atom()

    def atom(self) -> Real:
        token = self.peek()
        if token is None:
            raise NotANumber("expected a number")
        kind, text = token
        if kind == "num":
            self.pos += 1
            return Real(Fraction(text))
        if text in ("(", "{"):
            return self.group()
        if text in ("\\pi", "π"):
            self.pos += 1
            return _irrational(_PI)
        if text == "\\frac":
            self.pos += 1
            numerator = self.argument()
            return _combine(numerator, self.argument(), "/")
        if text == "\\sqrt":
            self.pos += 1
            degree = Real(Fraction(2))
            after = self.peek()
            if after is not None and after[1] == "[":
                degree = self.group()
            if degree.exact is None or degree.exact.denominator != 1 or degree.exact < 2:
                raise NotANumber("bad root")
            return _power(self.argument(), Real(1 / degree.exact))
        raise NotANumber(f"unexpected {text!r}")
