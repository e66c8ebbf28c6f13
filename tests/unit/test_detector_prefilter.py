"""The detector skips a case-insensitive pattern when the text holds none of the words its matches
need; that shortcut must never hide a match (hypothesis, over texts full of near-keywords)."""

from __future__ import annotations

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
