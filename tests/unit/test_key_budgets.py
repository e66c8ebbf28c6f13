"""Daily budgets per API key: shared through a file, renewed each UTC day, never storing a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import BudgetExceeded
from orchestrator.key_budgets import DailyBudgets, Remaining, key_id


def test_a_key_spends_its_day_then_gets_a_clear_error_naming_the_budget(tmp_path: Path) -> None:
    day = ["2026-01-01"]
    budgets = DailyBudgets(tmp_path / "b.sqlite", max_cost_usd=1.0, max_calls=10, today=lambda: day[0])
    alice = key_id("sk-alice")
    assert budgets.remaining(alice) == Remaining(cost_usd=1.0, calls=10)
    budgets.charge(alice, 0.4, 3)
    budgets.charge(alice, 0.4, 3)
    assert budgets.remaining(alice) == Remaining(cost_usd=pytest.approx(0.2), calls=4)
    assert budgets.remaining(key_id("sk-bob")) == Remaining(cost_usd=1.0, calls=10)
    budgets.charge(alice, 0.3, 1)
    with pytest.raises(BudgetExceeded) as info:
        budgets.remaining(alice)
    assert info.value.budget == "key_daily_max_cost_usd"
    assert "renews at 00:00 UTC" in str(info.value)
    day[0] = "2026-01-02"
    assert budgets.remaining(alice) == Remaining(cost_usd=1.0, calls=10)


def test_calls_budget_and_workers_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    one, two = DailyBudgets(path, max_calls=5), DailyBudgets(path, max_calls=5)
    one.charge(key_id("k"), 0.0, 3)
    two.charge(key_id("k"), 0.0, 2)
    with pytest.raises(BudgetExceeded, match="key_daily_max_calls=5 of this API key is spent"):
        one.remaining(key_id("k"))


def test_the_file_never_holds_a_key(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    budgets = DailyBudgets(path, max_calls=5)
    budgets.charge(key_id("sk-very-secret-key"), 0.1, 1)
    budgets.close()
    assert b"sk-very-secret-key" not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key_id(None) == "anonymous" and key_id("x").startswith("key_")
