"""The detector's fast forms find exactly what its plain forms find.

The card, My Number and phone patterns consume a digit before their look-behind (so the regex engine
skips to digits), and the digit-bound finders are skipped on ASCII text with too few digits. The
reference patterns below are the plain forms they replace (leading look-behind, no pre-check).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sovereignty import detector

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


def spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int, tuple[str | None, ...]]]:
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
