"""Simulated scripted members against theory: accuracy p, error correlation rho, and Condorcet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.report import build_summary
from orchestrator.bench.runner import BenchRunner, BenchSettings
from orchestrator.bench.simulate import condorcet, majority_accuracy, simulated_panel
from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import QuorumError
from tests.helpers import scripted_config


def numbers(n: int) -> list[BenchItem]:
    return [
        BenchItem(id=f"q{i}", question=f"What is {i} plus {i}?", answer=str(2 * i), answer_type="number")
        for i in range(n)
    ]


def bench(tmp_path: Path, n_members: int, p: float, rho: float, items: int) -> dict:
    config = parse_config(simulated_panel(n_members, p, rho, distractors=1), source="sim")
    runner = BenchRunner(
        config,
        numbers(items),
        {"name": "synthetic"},
        BenchSettings(strategies=["vote"], out=tmp_path, concurrency=32),
    )
    runner.prepare()
    asyncio.run(runner.run())
    return build_summary(runner.outcome(complete=True), {"name": "synthetic"})


def test_majority_of_independent_members_matches_condorcet(tmp_path: Path) -> None:
    summary = bench(tmp_path, n_members=3, p=0.7, rho=0.0, items=800)
    vote = summary["strategies"]["vote"]
    low, high = vote["accuracy_ci95"]
    assert low <= condorcet(3, 0.7) <= high, (vote["accuracy"], condorcet(3, 0.7))
    for stats in summary["members"].values():  # each member alone is right with p
        assert stats["accuracy_ci95"][0] <= 0.7 <= stats["accuracy_ci95"][1]
    panel = summary["panel"]
    off_diagonal = [panel["error_correlation"][i][j] for i in range(3) for j in range(3) if i != j]
    assert all(abs(c) < 0.1 for c in off_diagonal), off_diagonal
    assert panel["majority_if_independent"] == pytest.approx(
        majority_accuracy([s["accuracy"] for s in summary["members"].values()])
    )


def test_correlated_errors_show_up_and_cost_the_vote(tmp_path: Path) -> None:
    summary = bench(tmp_path, n_members=3, p=0.7, rho=0.5, items=800)
    corr = summary["panel"]["error_correlation"]
    assert all(0.4 < corr[i][j] < 0.6 for i in range(3) for j in range(3) if i != j), corr
    vote = summary["strategies"]["vote"]
    assert vote["accuracy_ci95"][1] < condorcet(3, 0.7)  # correlated errors: less than the independent gain


def test_simulated_member_reads_the_gold_label() -> None:
    config = scripted_config({"s": {"simulate": {"p": 1.0}}})
    verdict = Orchestrator(config).run_sync("6 x 7?", strategy="single", tags={"labels": {"gold": "42"}})
    assert verdict.answer == "The answer is 42."


def test_simulated_member_without_gold_fails_clearly() -> None:
    config = scripted_config({"s": {"simulate": {"p": 1.0}}})
    with pytest.raises(QuorumError, match="needs the gold answer in the request label 'gold'"):
        Orchestrator(config).run_sync("6 x 7?", strategy="single")


def test_simulated_answers_are_reproducible_and_a_perfect_member_is_never_wrong() -> None:
    config = scripted_config({"s": {"simulate": {"p": 0.5, "distractors": 4}}, "t": {"simulate": {"p": 1.0}}})
    orch = Orchestrator(config)

    async def ask_all() -> list[tuple[str, str]]:
        answers = []
        for i in range(40):
            tags = {"labels": {"gold": str(i), "answer_type": "number", "item": f"q{i}"}}
            first = await orch.run(f"q{i}", strategy="single", tags=tags)
            again = await orch.run(f"q{i}", strategy="single", tags=tags)
            assert first.answer == again.answer
            perfect = await orch.run(f"q{i}", strategy="vote", tags=tags)
            assert any(c.text == f"The answer is {i}." for c in perfect.candidates if c.member == "t")
            answers.append((first.answer, f"The answer is {i}."))
        await orch.aclose()
        return answers

    answers = asyncio.run(ask_all())
    wrong = [a for a, right in answers if a != right]
    assert 5 < len(wrong) < 35  # p = 0.5 over 40 items
    assert len(set(wrong)) > 1  # wrong answers spread over the distractors
