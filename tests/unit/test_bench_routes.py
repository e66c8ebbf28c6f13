"""``shoal bench --emit-routes``: per category, the cheapest strategy within a margin of the best."""

from __future__ import annotations

import tomllib
from pathlib import Path

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.routes import choose_routes, render_routes
from tests.cli.test_bench_cli import SAMPLE, SIM, shoal


def row(item: str, strategy: str, correct: bool, calls: int, cost: float = 0.0) -> dict:
    return {
        "item": item,
        "strategy": strategy,
        "status": "correct" if correct else "wrong",
        "calls": calls,
        "tokens": 10 * calls,
        "cost_usd": cost,
        "latency_s": 0.1 * calls,
    }


MATH = [BenchItem(id=f"m{i}", question=f"What is {i} + {i}?", answer=str(2 * i), answer_type="number")
        for i in range(10)]  # fmt: skip
FACT = {"category": "factual"}  # a dataset may say an item's category
FACTS = [
    BenchItem(id=f"f{i}", question="Capital?", answer="x", answer_type="text", meta=FACT) for i in range(10)
]
ITEMS = MATH + FACTS


def rows_for(
    accuracy: dict[str, dict[str, int]], calls: dict[str, int], cost: dict[str, float] | None = None
) -> list[dict]:
    cost = cost or dict.fromkeys(calls, 0.0)
    rows = []
    for strategy, by_prefix in accuracy.items():
        for prefix, right in by_prefix.items():
            for i in range(10):
                rows.append(row(f"{prefix}{i}", strategy, i < right, calls[strategy], cost[strategy]))
    return rows


def test_cheapest_within_the_margin_per_category() -> None:
    rows = rows_for(
        {"single": {"m": 8, "f": 5}, "vote": {"m": 9, "f": 9}, "judge": {"m": 9, "f": 9}},
        {"single": 1, "vote": 3, "judge": 4},
        {"single": 0.001, "vote": 0.003, "judge": 0.002},  # judge is cheaper than vote in money
    )
    category = {"What is": "math"}
    choices = choose_routes(
        rows, ITEMS, ["single", "vote", "judge", "member:a"], lambda q: category[q[:7]], margin=0.1
    )
    chosen = {c.category: c.strategy for c in choices}
    assert chosen == {"default": "judge", "math": "single", "factual": "judge"}
    assert [c.category for c in choices] == ["default", "factual", "math"]
    strict = choose_routes(rows, ITEMS, ["single", "vote", "judge"], lambda q: category[q[:7]], margin=0.0)
    assert {c.category: c.strategy for c in strict}["math"] == "judge"  # 0.8 is not within 0 of 0.9


def test_without_prices_the_fewest_calls_win() -> None:
    rows = rows_for({"single": {"m": 9}, "vote": {"m": 9}}, {"single": 1, "vote": 3})
    (default, math) = choose_routes(rows, MATH, ["vote", "single"], lambda q: "math", margin=0.0)
    assert (default.strategy, math.strategy) == ("single", "single")


def test_the_table_is_valid_toml_with_reasons() -> None:
    rows = rows_for({"single": {"m": 8}, "vote": {"m": 9}}, {"single": 1, "vote": 3})
    text = render_routes(
        choose_routes(rows, MATH, ["single", "vote"], lambda q: "math", margin=0.05),
        margin=0.05,
        source="test",
    )
    assert tomllib.loads(text) == {"routes": {"default": "vote", "math": "vote"}}
    assert "# 10 items: vote 90.0% at 3.0 calls/item" in text


def test_bench_emits_a_route_table_a_config_accepts(tmp_path: Path) -> None:
    out, table = tmp_path / "run", tmp_path / "routes.toml"
    result = shoal(
        "bench", "-d", SAMPLE, "-s", "single,vote", "--simulate", SIM, "-o", str(out), "--no-plots",
        "--emit-routes", str(table), "--route-margin", "0.05",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    routes = tomllib.loads(table.read_text(encoding="utf-8"))["routes"]
    assert set(routes) >= {"default", "math", "factual"}
    assert set(routes.values()) <= {"single", "vote"}
    config = tmp_path / "routed.toml"
    members = "".join(f'[members.sim{i}]\nprovider = "scripted"\nmodel = "m"\n' for i in (1, 2, 3))
    config.write_text(members + table.read_text(encoding="utf-8"), encoding="utf-8")
    check = shoal("config", "check", str(config))
    assert check.returncode == 0, check.stderr
    routed = shoal("route", "What is 17 + 25?", "-c", str(config), "--json")
    assert routed.returncode == 0, routed.stderr
    assert f'"strategy": "{routes["math"]}"' in routed.stdout
