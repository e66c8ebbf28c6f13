"""The detector's shortcuts never hide a match (hypothesis).

- A case-insensitive pattern is skipped when the text holds none of the words its matches need.
- The card, My Number and phone patterns consume a digit before their look-behind (so the regex
  engine skips to digits); the plain forms they replace (leading look-behind) are the reference.
- The digit-bound finders are skipped on ASCII text with too few digits, the e-mail one on text
  without "@".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sovereignty import detector
from orchestrator.sovereignty.detector import _may_hold

PIECES = st.sampled_from(
    [
        "api", "_", "-", "key", "KEY", "Key", "secret", "SeCrEt", "token", "TOKEN", "credential",
        "credentials", "bearer", "Bearer", "pass", "PASS", "word", "pwd", "pin", "_code", "phrase",
        " ", "=", ":", "\"", "'", "\n", "x9Fq2Lm8Zr4Tw6Yb1Nc3", "hunter2", "a", "Z", "7", "K",
        "ſ", "ı", "パスワード", "は", "://", "user", "@", "host.example",
    ]
)  # fmt: skip
CASES = [
    (detector._BEARER, detector._BEARER_WORDS),
    (detector._SECRET_NAMES, detector._SECRET_WORDS),
    (detector._PASSWORD_NAMES, detector._PASSWORD_WORDS),
]


@settings(max_examples=400)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_a_skipped_pattern_has_no_match(text: str) -> None:
    for pattern, words in CASES:
        if not _may_hold(text, words):
            assert pattern.search(text) is None, (pattern, text)
    if "://" not in text:
        assert detector._URL_CREDENTIALS.search(text) is None


def test_the_shortcut_skips_plain_text_and_keeps_findings() -> None:
    plain = "The quarterly report lists 14 sites and 3 regions. " * 50
    assert not _may_hold(plain, detector._SECRET_WORDS) and not _may_hold(plain, detector._PASSWORD_WORDS)
    assert [f.kind for f in detector.detect(plain + "password = hunter2xyz")] == ["password"]
    assert [f.kind for f in detector.detect(plain + "API_KEY=x9Fq2Lm8Zr4Tw6Yb1Nc3")] == ["api_key"]


# -- digit-bound patterns and pre-checks --------------------------------------------------

PLAIN_CARD = re.compile(r"(?<![\d\-.])(?:\d[ -]?){12,18}\d(?![\d\-]|\.\d)")
PLAIN_MY_NUMBER = re.compile(r"(?<![\d\-.])(\d{4})([ -]?)(\d{4})\2(\d{4})(?![\d\-]|\.\d)")
PLAIN_PHONE = re.compile(detector._PHONE.pattern.replace("(?=[+(\\d])", "", 1))

# Text made of what these patterns care about: digits, separators, brackets, letters, a non-ASCII digit.
pieces = st.sampled_from([*"0123456789", " ", "-", ".", "+", "(", ")", "/", "_", "a", "Z", "@", "٣", "\n"])
texts = st.lists(pieces, max_size=60).map("".join)
separators = st.sampled_from([" ", "-", ".", "(", ")", "+", "x", "@"])
digit_runs = st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=5), separators), max_size=16).map(
    "".join
)


def spans(pattern: Any, text: str) -> list[tuple[int, int, tuple[str | None, ...]]]:
    return [(m.start(), m.end(), m.groups()) for m in pattern.finditer(text)]


@settings(max_examples=600, deadline=None)
@given(st.one_of(texts, digit_runs))
def test_fast_patterns_match_the_plain_ones(text: str) -> None:
    assert spans(detector._CARD, text) == spans(PLAIN_CARD, text)
    assert spans(detector._MY_NUMBER, text) == spans(PLAIN_MY_NUMBER, text)
    assert spans(detector._PHONE, text) == spans(PLAIN_PHONE, text)


@settings(max_examples=600, deadline=None)
@given(st.one_of(texts, digit_runs))
def test_skipping_a_finder_never_hides_a_finding(text: str) -> None:
    assert detector._FINDERS[3] is detector._emails
    with_checks = detector.detect(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detector, "_may_have_digits", lambda text, least: True)
        patch.setattr(detector, "_FINDERS", (*detector._FINDERS[:3], _all_emails, *detector._FINDERS[4:]))
        assert detector.detect(text) == with_checks


def _all_emails(text: str) -> Iterator[detector.Finding]:
    for m in detector._EMAIL.finditer(text):
        yield detector.Finding("email", m.start(), m.end())


def test_known_findings_survive_the_pre_checks() -> None:
    text = "call +81 90-1234-5678, card 4111 1111 1111 1111, mail a@b.jp, マイナンバー 1234 5678 9018"
    kinds = {f.kind for f in detector.detect(text)}
    assert {"phone", "credit_card", "email"} <= kinds


# -- the whole-text check: short ASCII text none of whose finders can match is not scanned --------

# Pieces of every kind the finders look for, cut so that they only sometimes come whole.
kinds = st.sampled_from(
    [
        "AKIA", "ABCDEFGHIJKLMNOP", "sk-", "proj-", "x9Fq2Lm8Zr4Tw6Yb1Nc3", "xoxb-", "1234567890", "eyJ",
        "abcdefgh", ".", "ghp_", "hf_", "npm_", "AIza", "-----BEGIN ", "PRIVATE KEY-----", "RSA ", "@",
        "a@b.jp", "://", "u:p4ss@host", "bearer ", "token ", "Key", "pin", "pwd", "pass=", "= ", "0",
        "4111 1111 1111 1111", "+81 90-1234-5678", "(555) 123-4567", "090-1234-5678", "マイナンバー",
        "1234 5678 9018", " ", "_", "-", "fn_", "What is six times seven?", "word", "information", "\n",
    ]
)  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(kinds, max_size=10).map("".join))
def test_the_whole_text_check_never_hides_a_finding(text: str) -> None:
    mapped = text.translate(detector._FULL_WIDTH)
    assert mapped == text or not text.isascii()  # detect maps only text that is not ASCII
    assert detector.detect(text) == detector._scan(mapped)
    if detector._nothing_to_find(mapped):
        assert all(list(finder(mapped)) == [] for finder in detector._FINDERS)


def test_the_whole_text_check_passes_plain_prompts_and_stops_at_what_may_match() -> None:
    assert detector._nothing_to_find("What is six times seven?")
    for text in ("mail a@b.jp", "a key", "see http://x", "call 0901234567", "xoxb-12345abcde", "ｓｋ"):
        assert not detector._nothing_to_find(text), text
    assert not detector._nothing_to_find("plain words " * 400)  # long text: its finders check
