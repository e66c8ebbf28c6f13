"""What each strategy costs in calls for a panel of three (the table in the README), and cost budgets."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from orchestrator.engine import Orchestrator
from tests.conftest import REPO
from tests.helpers import scripted_config


def test_calls_per_strategy_for_a_panel_of_three() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "strategy_calls.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("|")[1].strip(): [cell.split("·")[0].strip() for cell in line.split("|")[2:5]]
        for line in result.stdout.splitlines()[2:]
    }
    assert rows == {
        "single": ["1", "1", "1"],
        "vote": ["3", "3", "3"],
        "vote early_exit": ["3 (1 cancelled)", "3 (1 cancelled)", "3"],
        "vote adaptive": ["2", "2", "3"],
        "judge": ["3", "4", "4"],
        "fusion layers=1": ["4", "4", "4"],
        "fusion layers=2": ["7", "7", "7"],
        "debate rounds=1": ["3", "6", "6"],
        "debate rounds=2": ["3", "9", "9"],
        "cascade vote->judge (0.7)": ["3", "4", "4"],
        "council": ["7", "7", "7"],
    }


def test_every_call_is_counted_in_usage_and_cost() -> None:
    priced = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
    members = {
        "a": {"answers": ["42"], **priced},
        "b": {"answers": ["41"], **priced},
        "j": {"rules": [{"when": r'<candidate id="(\d+)">\s*42', "answer": r"BEST: \1"}], **priced},
    }
    config = scripted_config(
        members,
        '[teams.t]\nmembers = ["a", "b"]\n[strategies.x]\nkind = "judge"\nteam = "t"\njudges = ["j"]\n',
    )

    async def run():
        async with Orchestrator(config) as orch:
            return await orch.run("What is 6 x 7?", strategy="x")

    verdict = asyncio.run(run())
    assert verdict.calls == 3
    judge = next(c for c in verdict.candidates if c.role == "judge")
    assert judge.cost_usd > 0
    assert verdict.cost_usd == sum(c.cost_usd for c in verdict.candidates)
    assert verdict.usage.total_tokens == sum(c.usage.total_tokens for c in verdict.candidates)


def test_max_cost_usd_stops_a_debate_before_a_round_it_cannot_pay_for() -> None:
    priced = {"usage": {"prompt_tokens": 100, "completion_tokens": 10}, "output_cost_per_token": 0.001}
    members = {"a": {"answers": ["42"], **priced}, "b": {"answers": ["41"], **priced}}
    config = scripted_config(
        members,
        '[teams.t]\nmembers = ["a", "b"]\n'
        '[strategies.d]\nkind = "debate"\nteam = "t"\nrounds = 2\nmax_cost_usd = 0.03\n',
    )

    async def run():
        async with Orchestrator(config) as orch:
            return await orch.run("What is 6 x 7?", strategy="d")

    verdict = asyncio.run(run())
    # each call costs 0.01: two answers (0.02), a round of two more would reach 0.04 > 0.03
    assert verdict.partial and verdict.calls == 2
    assert any("max_cost_usd=0.03" in n for n in verdict.notes)
    assert verdict.cost_usd <= 0.03
