"""Finds secrets and personal data in a request, so it can be treated as confidential unasked.

The detector reports *what* it found and *where* (kind and character span), never the
value, so its findings can be logged and audited::

    >>> [f.kind for f in detect("my key is sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d and mail a@b.jp")]
    ['api_key', 'email']
    >>> detect("The meeting is on 2024-05-01 at 10:30.")
    []

Kinds: ``private_key``, ``api_key`` (vendor key formats, JWTs, bearer tokens, keys in
assignments), ``password`` (a password in an assignment or a URL), ``email``, ``phone``,
``credit_card`` (13-19 digits with a known issuer prefix and a valid Luhn sum) and
``my_number`` (Japan's 12-digit Individual Number with a valid check digit, next to a
word that names it, such as マイナンバー or 個人番号). Checksums and placeholder filters keep
order numbers, dates, version strings and ``password = os.environ[...]`` out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from orchestrator._regex import lazy

__all__ = ["KINDS", "Finding", "Score", "detect", "evaluate", "luhn_ok", "my_number_ok", "redact"]

KINDS: tuple[str, ...] = ("private_key", "api_key", "password", "email", "phone", "credit_card", "my_number")


@dataclass(frozen=True, slots=True)
class Finding:
    """One secret or piece of personal data: its kind and span in the text, not its value."""

    kind: str
    start: int
    end: int

    def describe(self) -> str:
        return f"{self.kind}@{self.start}-{self.end}"


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment cards)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def my_number_ok(digits: str) -> bool:
    """The check digit of a Japanese Individual Number (12 digits, the last one the check)."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    body = [int(c) for c in reversed(digits[:11])]  # P1 is the rightmost digit of the body
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(body, start=1))
    remainder = total % 11
    return int(digits[11]) == (0 if remainder <= 1 else 11 - remainder)


# -- patterns ------------------------------------------------------------------------------

_PRIVATE_KEY = lazy(
    r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]{0,10000}?-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----)?"
)

# The vendors' key formats, matched where a key starts (``_VENDOR_KEYS`` finds those at a word
# boundary; ``_glued_keys`` matches it where a key's prefix is glued to a word). AWS ids have a
# fixed length, so they may be followed by "_" or "-" (``AKIA..._old``); the others take those in.
_VENDOR_KEY = (
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}(?![0-9A-Za-z])"  # AWS access key ids
    r"|(?:"
    r"sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"  # Stripe
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")(?![A-Za-z0-9_-])"
)
_VENDOR_KEYS = lazy(r"(?<![A-Za-z0-9_-])(?:" + _VENDOR_KEY + ")")
_VENDOR_KEY_AT = lazy(_VENDOR_KEY)
# How the formats start ("sk" for sk- and sk_, "gh" for GitHub's five and github_pat_): where one
# of these follows a word character, a key may be glued there.
_KEY_PREFIXES: tuple[str, ...] = (
    *("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "sk", "rk_", "pk_"),
    *("gh", "glpat-", "xox", "AIza", "hf_", "npm_", "eyJ"),
)

_BEARER = lazy(r"(?i:\b(?:bearer|token)\s+)([A-Za-z0-9_\-.~+/]{20,}=*)")

# NAME = VALUE, NAME: VALUE, NAME="VALUE", "NAME": "VALUE", export NAME=VALUE
_ASSIGN = r"""["']?\s*(?:[:=：]|:=|=>)\s*["'`]?([^\s"'`,;)}\]]+)"""
_SECRET_NAMES = lazy(
    r"(?i)(?<![A-Za-z0-9_-])(?:[A-Za-z0-9]+[_-])*"
    r"(?:api[_-]?key|apikey|secret[_-]?key|secret|access[_-]?key|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|client[_-]?secret|private[_-]?token|token|credentials?|(?<=[_-])key)" + _ASSIGN
)
_PASSWORD_NAMES = lazy(
    r"(?i)(?:(?<![A-Za-z0-9_-])(?:[A-Za-z0-9]+[_-])*(?:pwd|pass|pin[_-]?code)"
    r"|(?<![A-Za-z0-9_-])[A-Za-z0-9_-]*?(?:password|passwd|passwort|pass[_-]?phrase))"
    + _ASSIGN
    + r"|(?:パスワード|暗証番号|パスコード)\s*(?:は|[:=：])\s*[「『\"']?([!-~]+)"
)
# Values that name a secret without being one: environment lookups, templates, masks.
_PLACEHOLDER = lazy(
    r"(?i)^(?:os\.|env\b|getenv|process\.env|\$|%|\{|<|\*+$|x+$|\.\.\.|…|none$|null$|nil$|true$|false$"
    r"|undefined$|required$|optional$|string$|str$|input\(|self\.|config\.|settings\.|args?\."
    r"|your[_-]|my[_-]|example|changeme$|placeholder|redacted|hidden|secret$|password$|token$"
    r"|get_|read_|load_|fetch_|request\.|params\.|[A-Za-z_][\w.]*\()"
)
_URL_CREDENTIALS = lazy(r"(?i)(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s:/@]+)@[A-Za-z0-9.-]")
_TOKEN_SHAPE = lazy(r"[!-~]{16,}")

_EMAIL = lazy(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

_PHONE = lazy(
    r"(?=[+(\d])(?<![A-Za-z0-9_+.\-/])(?:"
    r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}"  # international
    r"|0[5-9]0[\s-]?\d{4}[\s-]?\d{4}"  # JP mobile and IP phones
    r"|0\d{1,4}-\d{1,4}-\d{4}|0\d{1,4}\(\d{1,4}\)\d{4}"  # JP landlines, written with separators
    r"|0120-?\d{3}-?\d{3}"  # JP toll-free
    r"|0[1-9]\d{3}\s\d{6}"  # UK
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}"  # North America
    r")(?![A-Za-z0-9_\-/]|\.\d)"
)

# Each pattern below starts by consuming a digit, so the regex engine skips to digits quickly; the
# look-behind then checks the character before that first digit (a leading look-behind would be
# tried at every position: 3x slower on prose).
_CARD = lazy(r"\d(?<![\d\-.]\d)(?:[ -]?\d){12,18}(?![\d\-]|\.\d)")
_CARD_PREFIX = lazy(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6011|65|64[4-9]|35|62)")

_MY_NUMBER = lazy(r"(\d(?<![\d\-.]\d)\d{3})([ -]?)(\d{4})\2(\d{4})(?![\d\-]|\.\d)")
# Full-width ASCII (０９０, ｓｋ-, ＠) is common in Japanese text; mapped one character to one,
# so spans found in the mapped text are spans of the original.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_MY_NUMBER_CONTEXT = lazy(r"(?i)マイナンバー|個人番号|my\s*number|individual\s*number|kojin\s*bango")


# -- detection -----------------------------------------------------------------------------


def detect(text: str) -> list[Finding]:
    """Every finding in ``text``, ordered by position, overlapping spans resolved by kind order."""
    if not text.isascii():  # full-width forms are not ASCII: ASCII text maps to itself
        text = text.translate(_FULL_WIDTH)
    if _nothing_to_find(text):
        return []
    return _scan(text)


def _scan(text: str) -> list[Finding]:
    """:func:`detect` of text already mapped to ASCII where it is full-width: every finder run."""
    found: list[Finding] = []
    for finder in _FINDERS:
        for finding in finder(text):
            if not any(_overlap(finding, kept) for kept in found):
                found.append(finding)
    return sorted(found, key=lambda f: (f.start, f.end))


def redact(text: str) -> str:
    """``text`` with every finding replaced by ``[REDACTED:kind]``: for error text that may
    carry what an upstream echoed back (a key, an address), before it reaches a client, a log
    or the audit trail.

    >>> redact("HTTP 401: bad key sk-proj-4fT9xQ2mLr8vBn3KpZ7wYc1d for a@b.jp")
    'HTTP 401: bad key [REDACTED:api_key] for [REDACTED:email]'
    """
    if not text:
        return text
    out, last = [], 0
    for finding in detect(text):
        out += [text[last : finding.start], f"[REDACTED:{finding.kind}]"]
        last = finding.end
    return "".join(out) + text[last:] if out else text


def _overlap(a: Finding, b: Finding) -> bool:
    return a.start < b.end and b.start < a.end


def _private_keys(text: str) -> Iterator[Finding]:
    for m in _PRIVATE_KEY.finditer(text):
        yield Finding("private_key", m.start(), m.end())


# What a match of each case-insensitive pattern must contain: text holding none of these words
# cannot match it, and testing for them costs far less than the pattern (a prompt of 1 MB).
_BEARER_WORDS = ("bearer", "token")
_SECRET_WORDS = ("key", "secret", "token", "credential")
_PASSWORD_WORDS = ("pwd", "pass", "pin")


def _may_hold(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` may match a case-insensitive pattern that needs one of ``words``. Text that
    is not ASCII always may: the pattern's case folding reaches beyond ``str.lower`` (the Kelvin
    sign is a ``k``), and the Japanese alternatives are not ASCII."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in words)


def _api_keys(text: str) -> Iterator[Finding]:
    for m in _VENDOR_KEYS.finditer(text):
        yield Finding("api_key", m.start(), m.end())
    yield from _glued_keys(text)
    for m in _BEARER.finditer(text) if _may_hold(text, _BEARER_WORDS) else ():
        if _looks_random(m.group(1)):
            yield Finding("api_key", m.start(1), m.end(1))
    for m in _SECRET_NAMES.finditer(text) if _may_hold(text, _SECRET_WORDS) else ():
        value = m.group(1)
        if _TOKEN_SHAPE.fullmatch(value) and not _PLACEHOLDER.match(value) and _looks_random(value):
            yield Finding("api_key", m.start(1), m.end(1))


def _passwords(text: str) -> Iterator[Finding]:
    for m in _PASSWORD_NAMES.finditer(text) if _may_hold(text, _PASSWORD_WORDS) else ():
        group = 1 if m.group(1) is not None else 2
        value = m.group(group)
        if len(value) >= 4 and not _PLACEHOLDER.match(value):
            yield Finding("password", m.start(group), m.end(group))
    for m in _URL_CREDENTIALS.finditer(text) if "://" in text else ():
        if not _PLACEHOLDER.match(m.group(1)):
            yield Finding("password", m.start(1), m.end(1))


_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# Prefixes that ordinary words end in ("task-", "risk_", "desk-").
_WORDLIKE_PREFIXES = ("sk-", "sk_", "rk_", "pk_")
_NAMED_SK = ("sk-proj-", "sk-ant-", "sk-svcacct-", "sk-admin-")


def _glued_keys(text: str) -> Iterator[Finding]:
    """Keys glued to a word (``fn_AKIA...``, ``key_sk-proj-...``, ``tokeneyJ...``): a vendor format
    right after a word character, whose value looks random; one that starts like the end of a word
    ("task-", "risk_live_") only right after "_". Searched from each prefix's occurrences, so text
    without them costs a few ``str.find`` calls."""
    for prefix in _KEY_PREFIXES:
        at = text.find(prefix, 1)
        while at > 0:
            before = text[at - 1]
            if before in _KEY_CHARS and (m := _VENDOR_KEY_AT.match(text, at)) is not None:
                value = m.group()
                wordlike = value.startswith(_WORDLIKE_PREFIXES) and not value.startswith(_NAMED_SK)
                if (before == "_" or not wordlike) and _looks_random(value):
                    yield Finding("api_key", at, m.end())
            at = text.find(prefix, at + 1)


def _looks_random(value: str) -> bool:
    """A token mixes letters and digits (or cases); words and identifiers do not."""
    has_digit = any(c.isdigit() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_lower = any(c.islower() for c in value)
    return len(set(value)) >= 8 and ((has_digit and (has_upper or has_lower)) or (has_upper and has_lower))


def _emails(text: str) -> Iterator[Finding]:
    for m in _EMAIL.finditer(text) if "@" in text else ():  # full-width ＠ is mapped already
        yield Finding("email", m.start(), m.end())


def _may_have_digits(text: str, least: int) -> bool:
    """Whether ``text`` may hold ``least`` digits: counted for ASCII text (each ``str.count`` is a
    fast scan); other text always may, since ``\\d`` matches digits of every script."""
    return not text.isascii() or sum(map(text.count, "0123456789")) >= least


def _phones(text: str) -> Iterator[Finding]:
    for m in _PHONE.finditer(text) if _may_have_digits(text, 10) else ():
        digits = re.sub(r"\D", "", m.group())
        if 10 <= len(digits) <= 15:
            yield Finding("phone", m.start(), m.end())


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text) if _may_have_digits(text, 13) else ():
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits):
            yield Finding("credit_card", m.start(), m.end())


def _my_numbers(text: str) -> Iterator[Finding]:
    for m in _MY_NUMBER.finditer(text) if _may_have_digits(text, 12) else ():
        digits = m.group(1) + m.group(3) + m.group(4)
        if not my_number_ok(digits) or len(set(digits)) < 3:
            continue
        # A check digit alone passes one random number in eleven: ask for a word naming it too.
        if _MY_NUMBER_CONTEXT.search(text[max(0, m.start() - 40) : m.end() + 20]):
            yield Finding("my_number", m.start(), m.end())


# What any finding needs, in ASCII text: a vendor key holds 11 key characters in a row (``xox?-``
# and 10 more, ``eyJ`` and 8 before its first dot; the others more), a private key its
# ``-----BEGIN`` line, an assignment or a bearer token one of the words its pattern needs, a
# password in a URL "://", an e-mail "@", a phone number, card or My Number 10 digits or more.
_KEY_RUN = lazy(r"[A-Za-z0-9_-]{11}")
_ANY_WORDS = tuple(dict.fromkeys((*_BEARER_WORDS, *_SECRET_WORDS, *_PASSWORD_WORDS)))
_ANY_WORD = lazy("|".join(_ANY_WORDS))  # one scan for all of them (the text is lowered first)
_DIGIT = lazy(r"[0-9]")
_QUICK_CHARS = 4096  # longer text almost always holds one of these; its finders' own checks suffice


def _nothing_to_find(text: str) -> bool:
    """Whether no finder can report anything in ``text``: short ASCII text holding none of what every
    finding needs (a prompt such as "What is six times seven?" costs a few scans, not seven
    finders). Text that is not ASCII is always scanned (``\\d`` and case folding reach beyond ASCII)."""
    if len(text) > _QUICK_CHARS or not text.isascii():
        return False
    if "@" in text or "://" in text or "-----BEGIN" in text:
        return False
    if _ANY_WORD.search(text.lower()) is not None:
        return False
    if len(_DIGIT.findall(text)) >= 10:
        return False
    return _KEY_RUN.search(text) is None


# Order matters: a span claimed by an earlier finder is not reported again by a later one.
_FINDERS: tuple[Callable[[str], Iterator[Finding]], ...] = (
    _private_keys,
    _api_keys,
    _passwords,
    _emails,
    _cards,
    _my_numbers,
    _phones,
)


# -- evaluation on a labelled set ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    """Precision and recall of one decision (a request is confidential, or holds one kind)."""

    true_pos: int
    false_pos: int
    false_neg: int
    true_neg: int

    @property
    def precision(self) -> float:
        flagged = self.true_pos + self.false_pos
        return self.true_pos / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_pos + self.false_neg
        return self.true_pos / actual if actual else 1.0


def evaluate(rows: list[dict[str, object]]) -> dict[str, Score]:
    """Scores per request (key ``"any"``) and per kind, over rows ``{"text": ..., "kinds": [...]}``."""
    counts: dict[str, list[int]] = {key: [0, 0, 0, 0] for key in ("any", *KINDS)}
    for row in rows:
        expected = set(row.get("kinds") or [])  # type: ignore[call-overload]
        got = {f.kind for f in detect(str(row["text"]))}
        for key in counts:
            want = bool(expected) if key == "any" else key in expected
            have = bool(got) if key == "any" else key in got
            counts[key][0 if want and have else 1 if have else 2 if want else 3] += 1
    return {key: Score(*c) for key, c in counts.items()}
