"""Benchmark statistics against closed forms and their defining properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.bench.plots import pareto_front
from orchestrator.bench.simulate import condorcet, majority_accuracy, simulated_panel
from orchestrator.bench.stats import (
    mcnemar,
    paired_bootstrap,
    panel_stats,
    percentile,
    phi,
    strategy_stats,
    wilson,
)
from orchestrator.config import parse_config


def test_wilson_known_values() -> None:
    low, high = wilson(40, 50)
    assert (round(low, 4), round(high, 4)) == (0.6696, 0.8876)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_contains_the_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n + 1e-12 and k / n - 1e-12 <= high <= 1.0


def test_mcnemar_matches_the_exact_binomial() -> None:
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(5, 5) == 1.0
    # 10 vs 2 discordant pairs: 2 * P(X <= 2), X ~ Bin(12, 1/2)
    assert mcnemar(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar(0, 6) == pytest.approx(2 / 64)


@given(b=st.integers(0, 60), c=st.integers(0, 60))
def test_mcnemar_is_symmetric_and_a_probability(b: int, c: int) -> None:
    assert mcnemar(b, c) == mcnemar(c, b)
    assert 0.0 < mcnemar(b, c) <= 1.0


def test_paired_bootstrap_is_seeded_and_brackets_the_difference() -> None:
    a = [True] * 30 + [False] * 20
    b = [True] * 20 + [False] * 30
    interval = paired_bootstrap(a, b)
    assert interval == paired_bootstrap(a, b)
    assert interval[0] < 0.2 < interval[1]
    assert paired_bootstrap(a, a) == (0.0, 0.0)


def test_percentile_and_phi() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert phi([True, False, True, False], [True, False, True, False]) == pytest.approx(1.0)
    assert phi([True, False, True, False], [False, True, False, True]) == pytest.approx(-1.0)
    assert phi([True, True], [True, False]) is None


def rows(name: str, outcomes: str, calls: int = 1) -> list[dict[str, object]]:
    status = {"c": "correct", "w": "wrong", "a": "abstained", "e": "error"}
    return [
        {"item": f"q{i}", "strategy": name, "status": status[o], "calls": calls, "tokens": 10 * calls,
         "cost_usd": 0.001 * calls, "latency_s": 0.1 * (i + 1), "extracted": "x" if o == "w" else str(i)}
        for i, o in enumerate(outcomes)
    ]  # fmt: skip


def test_strategy_stats_counts_rates_and_cost() -> None:
    base = {r["item"]: r for r in rows("single", "cwwcwcwwca")}
    stats = strategy_stats(rows("vote", "ccwcccwcaw", calls=3), base)
    assert (stats["n"], stats["correct"], stats["wrong"], stats["abstained"]) == (10, 6, 3, 1)
    assert stats["accuracy"] == 0.6
    assert stats["accuracy_answered"] == pytest.approx(6 / 9)
    assert stats["abstention_rate"] == 0.1
    assert stats["calls_per_item"] == 3 and stats["tokens_per_correct"] == pytest.approx(300 / 6)
    assert stats["cost_per_correct_usd"] == pytest.approx(0.03 / 6)
    assert stats["latency_p50_s"] == pytest.approx(0.55)
    vs = stats["vs_baseline"]
    assert vs["diff"] == pytest.approx(0.2) and vs["only_this_right"] == 3 and vs["only_baseline_right"] == 1
    assert vs["p_value"] == mcnemar(3, 1)


def test_panel_stats_oracle_best_and_error_correlation() -> None:
    items = [f"q{i}" for i in range(6)]
    members = {
        "a": {r["item"]: r for r in rows("member:a", "ccwwcw")},
        "b": {r["item"]: r for r in rows("member:b", "ccwwwc")},
        "c": {r["item"]: r for r in rows("member:c", "wcccwc")},
    }
    panel = panel_stats(members, items)
    assert panel["best_single"] == {"member": "c", "accuracy": 4 / 6}
    assert panel["oracle"]["accuracy"] == 1.0
    corr = panel["error_correlation"]
    assert corr[0][0] == pytest.approx(1.0) and corr[0][1] == pytest.approx(corr[1][0])
    assert corr[0][1] > 0 > corr[0][2]
    assert panel["both_wrong"][0][1] == pytest.approx(2 / 6)
    assert panel["same_wrong_answer"][0][1] == pytest.approx(2 / 6)
    assert panel["majority_if_independent"] == pytest.approx(majority_accuracy([0.5, 0.5, 4 / 6]))


def test_condorcet_closed_form() -> None:
    assert condorcet(1, 0.6) == pytest.approx(0.6)
    assert condorcet(3, 0.7) == pytest.approx(0.784)
    assert condorcet(5, 0.6) == pytest.approx(0.68256)
    assert majority_accuracy([0.7] * 5) == pytest.approx(condorcet(5, 0.7))
    assert math.isclose(condorcet(4, 0.5), 5 / 16)  # strict majority: 3 or 4 of 4


def test_simulated_panel_config_is_valid() -> None:
    config = parse_config(simulated_panel(3, 0.7, 0.2), source="sim")
    assert list(config.members) == ["sim1", "sim2", "sim3"]
    assert config.members["sim1"].options["simulate"] == {"p": 0.7, "rho": 0.2, "seed": 0, "distractors": 3}
    assert set(config.strategies) == {"single", "vote"}


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=12))
def test_pareto_front_keeps_exactly_the_undominated_points(points: list[tuple[float, float]]) -> None:
    front = pareto_front(points)
    for i in front:  # nothing strictly beats a frontier point
        assert not any(
            (c <= points[i][0] and a >= points[i][1])
            and (c, a) != points[i]
            and (c < points[i][0] or a > points[i][1])
            for c, a in points
        )
    best = max(a for _, a in points)
    assert any(points[i][1] == best for i in front)
    assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)
