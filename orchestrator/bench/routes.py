"""A route table from a benchmark: per category, the cheapest strategy within a margin of the best.

``shoal bench ... --emit-routes FILE [--route-margin 0.02]`` groups the items by the
router's category (an item's ``meta.category`` when the dataset gives one, else what
the config's classifier says of its question), and for each category picks, among
the strategies whose accuracy is within ``margin`` of the best one's, the cheapest:
by cost per item, then calls, tokens and median latency (a local panel costs
nothing, so calls decide). ``default`` is the same choice over all items. The file is
a ``[routes]`` table to paste into a config::

    [routes]
    default = "vote"
    math = "single"     # 48 items: single 81.2% at 1.0 calls/item; best vote 83.3% at 3.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.prompts import question_of
from orchestrator.bench.runner import MEMBER_PREFIX

__all__ = ["RouteChoice", "choose_routes", "render_routes", "write_routes"]


@dataclass(frozen=True)
class RouteChoice:
    """The strategy chosen for one category, and what it was chosen over."""

    category: str
    strategy: str
    items: int
    accuracy: float
    calls_per_item: float
    cost_per_item_usd: float
    best: str
    best_accuracy: float


def _cost_key(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float, float, float]:
    n = len(rows) or 1
    latencies = sorted(r["latency_s"] for r in rows) or [0.0]
    return (
        round(sum(r["cost_usd"] for r in rows) / n, 9),
        sum(r["calls"] for r in rows) / n,
        sum(r["tokens"] for r in rows) / n,
        latencies[len(latencies) // 2],
    )


def _accuracy(rows: Sequence[Mapping[str, Any]]) -> float:
    return sum(1 for r in rows if r["status"] == "correct") / len(rows) if rows else 0.0


def _choose(
    category: str, by_strategy: Mapping[str, list[Mapping[str, Any]]], order: Sequence[str], margin: float
) -> RouteChoice:
    accuracy = {name: _accuracy(by_strategy[name]) for name in order}
    best = max(order, key=lambda name: (accuracy[name], -order.index(name)))
    near = [name for name in order if accuracy[name] >= accuracy[best] - margin - 1e-12]
    chosen = min(near, key=lambda name: (_cost_key(by_strategy[name]), order.index(name)))
    cost, calls, _, _ = _cost_key(by_strategy[chosen])
    return RouteChoice(
        category=category,
        strategy=chosen,
        items=len(by_strategy[chosen]),
        accuracy=accuracy[chosen],
        calls_per_item=calls,
        cost_per_item_usd=cost,
        best=best,
        best_accuracy=accuracy[best],
    )


def choose_routes(
    rows: Sequence[Mapping[str, Any]],
    items: Sequence[BenchItem],
    strategies: Sequence[str],
    category_of: Callable[[str], str],
    *,
    margin: float = 0.02,
) -> list[RouteChoice]:
    """``default`` first, then one choice per category, over the strategies (not the lone members)."""
    order = [s for s in strategies if not s.startswith(MEMBER_PREFIX)]
    if not order:
        return []
    categories = {item.id: str(item.meta.get("category") or category_of(question_of(item))) for item in items}
    grouped: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in rows:
        if row["strategy"] in order and row["item"] in categories:
            for group in ("default", categories[row["item"]]):
                grouped.setdefault(group, {}).setdefault(row["strategy"], []).append(row)
    choices = []
    for category in ["default", *sorted(set(grouped) - {"default"})]:
        by_strategy = grouped.get(category, {})
        present = [name for name in order if by_strategy.get(name)]
        if present:
            choices.append(_choose(category, by_strategy, present, margin))
    return choices


def render_routes(choices: Sequence[RouteChoice], *, margin: float, source: str) -> str:
    lines = [
        f"# Written by `shoal bench --emit-routes` from {source}.",
        f"# Per category, the cheapest strategy whose accuracy is within {margin:g} of the best one's.",
        "# Paste into a config.",
        "[routes]",
    ]
    for c in choices:
        why = (
            f"{c.items} items: {c.strategy} {100 * c.accuracy:.1f}% at {c.calls_per_item:.1f} calls/item"
            f", ${c.cost_per_item_usd:.6f}/item"
        )
        if c.best != c.strategy:
            why += f"; best {c.best} {100 * c.best_accuracy:.1f}%"
        lines.append(f"{_key(c.category)} = {_quote(c.strategy)}  # {why}")
    return "\n".join(lines) + "\n"


def write_routes(path: Path, choices: Sequence[RouteChoice], *, margin: float, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_routes(choices, margin=margin, source=source), encoding="utf-8")
    return path


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else _quote(name)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
