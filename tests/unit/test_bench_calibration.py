"""Calibration and selective answering from result rows: ECE, Brier, bands, risk-coverage, AURC."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.bench.calibration import (
    bands,
    brier,
    calibration_stats,
    reliability,
    risk_coverage,
    selective_vs,
    wrong_at_coverage,
)


def rows(pairs: list[tuple[str, float | None]]) -> list[dict[str, object]]:
    return [{"item": str(i), "status": s, "confidence": c} for i, (s, c) in enumerate(pairs)]


def test_a_perfectly_calibrated_strategy_has_zero_ece_and_every_bin_counted() -> None:
    # 10 items at 0.8 of which 8 right, 10 at 0.3 of which 3 right
    data = rows([("correct", 0.8)] * 8 + [("wrong", 0.8)] * 2 + [("correct", 0.3)] * 3 + [("wrong", 0.3)] * 7)
    rel = reliability(data)
    assert rel["ece"] == pytest.approx(0.0)
    assert [b["n"] for b in rel["bins"]] == [0, 0, 0, 10, 0, 0, 0, 0, 10, 0]
    assert brier(data) == pytest.approx((8 * 0.04 + 2 * 0.64 + 3 * 0.49 + 7 * 0.09) / 20)


def test_overconfidence_shows_as_ece_and_in_the_bands() -> None:
    data = rows([("wrong", 1.0)] * 4 + [("correct", 1.0)])  # 20% right at confidence 1.0
    assert reliability(data)["ece"] == pytest.approx(0.8)
    assert reliability(data)["bins"][-1]["n"] == 5  # confidence 1.0 is in the last bin
    top = bands(data)[-1]
    assert (top["n"], top["accuracy"]) == (5, pytest.approx(0.2))


def test_abstentions_and_errors_are_not_covered_and_not_calibrated() -> None:
    data = rows([("correct", 0.9), ("abstained", 0.2), ("error", None), ("wrong", 0.6)])
    assert reliability(data)["n"] == 2
    curve = risk_coverage(data)["curve"]
    assert curve[-1]["coverage"] == pytest.approx(0.5)
    assert curve[-1]["risk"] == pytest.approx(0.5)


def test_aurc_rewards_confidence_that_ranks_right_answers_first() -> None:
    good = rows([("correct", 0.9), ("correct", 0.8), ("wrong", 0.4), ("wrong", 0.3)])
    bad = rows([("correct", 0.3), ("correct", 0.4), ("wrong", 0.8), ("wrong", 0.9)])
    assert risk_coverage(good)["aurc"] < risk_coverage(bad)["aurc"]
    assert wrong_at_coverage(good, 0.5) == 0.0
    assert wrong_at_coverage(bad, 0.5) == 0.5


def test_tied_confidences_enter_the_curve_together() -> None:
    data = rows([("correct", 1.0), ("wrong", 1.0), ("correct", 0.5)])
    curve = risk_coverage(data)["curve"]
    assert [(p["coverage"], p["risk"]) for p in curve] == [
        (pytest.approx(2 / 3), 0.5),
        (1.0, pytest.approx(1 / 3)),
    ]


def test_selective_comparison_is_paired_and_its_interval_excludes_zero_on_a_clear_gain() -> None:
    rng = random.Random(3)
    ours = rows([("correct", 0.9) if rng.random() < 0.8 else ("wrong", 0.4) for _ in range(200)])
    theirs = rows([("correct", 0.5) if rng.random() < 0.5 else ("wrong", 0.5) for _ in range(200)])
    result = selective_vs(ours, theirs, 1.0)
    assert result["n"] == 200
    assert result["diff"] == pytest.approx(result["wrong"] - result["reference_wrong"])
    low, high = result["diff_ci95"]
    assert low <= result["diff"] <= high < 0


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=40))
def test_ece_and_aurc_stay_within_zero_and_one(pairs: list[tuple[bool, float]]) -> None:
    data = rows([("correct" if ok else "wrong", c) for ok, c in pairs])
    stats = calibration_stats(data)
    assert 0.0 <= stats["ece"] <= 1.0 + 1e-9
    assert 0.0 <= stats["aurc"] <= 1.0 + 1e-9
    assert sum(b["n"] for b in stats["ece_bins"]) == len(pairs)


def test_a_strategy_that_answers_less_is_compared_at_the_share_it_answers() -> None:
    # Ours answers 10 of 20 items, all right; the reference answers all 20 with one confidence and is
    # wrong on the first 4 and the last 6. At the reference's coverage (100%) ours would look better
    # merely for abstaining; at equal coverage (50%) the reference answers its first 10 items.
    ours = rows([("correct", 0.9)] * 10 + [("abstained", None)] * 10)
    theirs = rows([("wrong", 0.5)] * 4 + [("correct", 0.5)] * 10 + [("wrong", 0.5)] * 6)
    result = selective_vs(ours, theirs, 1.0)
    assert result["reached"] == 0.5
    assert result["wrong"] == 0.0
    assert result["reference_wrong"] == pytest.approx(4 / 20)
    assert result["diff"] == pytest.approx(-4 / 20)
