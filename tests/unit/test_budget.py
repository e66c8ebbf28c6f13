"""Per-request budgets: a clear error naming the budget, never a quietly truncated answer."""

from __future__ import annotations

import pytest

from orchestrator.errors import BudgetExceeded
from tests.helpers import Counted

PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
THREE = {
    "a": {"answers": ["42"], "usage": {"prompt_tokens": 10, "completion_tokens": 5}, **PRICED},
    "b": {"answers": ["42"], "usage": {"prompt_tokens": 10, "completion_tokens": 5}, **PRICED},
    "c": {"answers": ["42"], "usage": {"prompt_tokens": 10, "completion_tokens": 5}, **PRICED},
}


def test_max_calls_refuses_a_fan_out_before_anything_is_sent() -> None:
    counted = Counted()
    orch = counted.orchestrator(THREE, "")
    with pytest.raises(BudgetExceeded) as info:
        orch.run_sync("What is six times seven?", tags={"max_calls": 2})
    assert info.value.budget == "max_calls"
    assert "max_calls=2 would be exceeded" in str(info.value)
    assert counted.calls == {}
    assert orch.run_sync("What is six times seven?", tags={"max_calls": 3}).calls == 3


def test_max_cost_refuses_calls_whose_estimate_would_overrun() -> None:
    counted = Counted()
    orch = counted.orchestrator(THREE, "")
    # 3 calls x (about 6 prompt tokens x 0.001 + 100 max_tokens x 0.002) = about 0.62 USD
    with pytest.raises(BudgetExceeded) as info:
        orch.run_sync("What is six times seven?", params={"max_tokens": 100}, tags={"max_cost_usd": 0.5})
    assert info.value.budget == "max_cost_usd"
    assert "max_cost_usd=0.5 would be exceeded" in str(info.value)
    assert counted.calls == {}
    verdict = orch.run_sync(
        "What is six times seven?", params={"max_tokens": 100}, tags={"max_cost_usd": 1.0}
    )
    assert verdict.cost_usd == pytest.approx(3 * (10 * 0.001 + 5 * 0.002))


def test_an_overspend_the_estimate_missed_is_an_error_not_a_quiet_answer() -> None:
    orch = Counted().orchestrator(THREE, "")
    # no max_tokens: the estimate sees only the prompt; the answers then cost 0.06 USD in all
    with pytest.raises(BudgetExceeded, match=r"max_cost_usd=0.05 exceeded: the calls cost 0.060000 USD"):
        orch.run_sync("What is six times seven?", tags={"max_cost_usd": 0.05})


def test_a_fallback_is_not_called_past_the_call_budget() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {"cloud": {"fail": "server_error"}, "a": {"answers": ["42"]}, "spare": {"answers": ["42"]}},
        """
        [teams.t]
        members = ["cloud", "a"]
        fallbacks = ["spare"]
        [defaults]
        team = "t"
        max_retries = 0
        """,
    )
    with pytest.raises(BudgetExceeded, match="max_calls=2 would be exceeded: 2 made, 1 more needed"):
        orch.run_sync("q", tags={"max_calls": 2})
    assert counted.calls == {"cloud": 1, "a": 1}  # the fallback was not called
    verdict = orch.run_sync("q", tags={"max_calls": 3})
    assert verdict.calls == 3 and [c.member for c in verdict.candidates if c.replaces] == ["spare"]


def test_a_strategys_own_budget_stops_it_early_but_the_callers_is_an_error() -> None:
    counted = Counted()
    judged = (
        '[strategies.j]\nkind = "judge"\njudges = ["c"]\nmax_calls = 2\n[teams.t]\nmembers = ["a", "b"]\n'
    )
    orch = counted.orchestrator(
        {"a": {"answers": ["42"]}, "b": {"answers": ["41"]}, "c": {"answers": ["1"]}},
        judged + '[defaults]\nteam = "t"\n',
    )
    verdict = orch.run_sync("q", strategy="j")  # the judge's own max_calls: the judge is skipped
    assert verdict.partial and verdict.calls == 2
    with pytest.raises(BudgetExceeded, match="max_calls=2"):
        orch.run_sync("q", strategy="j", tags={"max_calls": 2})
