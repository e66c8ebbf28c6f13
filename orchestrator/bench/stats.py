"""Statistics of a benchmark, in plain Python: intervals, paired tests, panel diversity.

Every number is a deterministic function of the result rows (the bootstrap is
seeded), so a replayed run reproduces its summary exactly.

>>> [round(x, 3) for x in wilson(40, 50)]
[0.67, 0.888]
>>> round(mcnemar(10, 2), 4)
0.0386
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.bench.simulate import majority_accuracy

__all__ = [
    "mcnemar",
    "paired_bootstrap",
    "panel_stats",
    "percentile",
    "phi",
    "strategy_stats",
    "wilson",
]

Z95 = 1.959963984540054
Row = Mapping[str, Any]


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    if k == 0:
        return (0.0, z * z / (n + z * z))
    if k == n:
        return (n / (n + z * z), 1.0)
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``b`` items only the first got right, ``c`` only the second."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def paired_bootstrap(
    a: Sequence[bool], b: Sequence[bool], *, rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ``mean(a) - mean(b)`` over the same items, resampling items."""
    n = len(a)
    if n == 0:
        return (0.0, 0.0)
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(rounds))
    return (percentile(means, 2.5), percentile(means, 97.5))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0-100) of ``values``."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def phi(x: Sequence[bool], y: Sequence[bool]) -> float | None:
    """Correlation of two 0/1 series (``None`` when one of them never varies)."""
    n = len(x)
    if n == 0:
        return None
    mx, my = sum(x) / n, sum(y) / n
    if mx in (0.0, 1.0) or my in (0.0, 1.0):
        return None
    both = sum(1 for i, j in zip(x, y, strict=True) if i and j) / n
    return (both - mx * my) / math.sqrt(mx * (1 - mx) * my * (1 - my))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def strategy_stats(rows: Sequence[Row], baseline: Mapping[str, Row] | None = None) -> dict[str, Any]:
    """Accuracy with its CI, error and abstention rates, cost, latency; paired against ``baseline``."""
    n = len(rows)
    count = {s: sum(1 for r in rows if r["status"] == s) for s in ("correct", "wrong", "abstained", "error")}
    answered = count["correct"] + count["wrong"]
    calls = sum(r["calls"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    cost = sum(r["cost_usd"] for r in rows)
    latencies = [r["latency_s"] for r in rows]
    stats: dict[str, Any] = {
        "n": n,
        **count,
        "accuracy": _ratio(count["correct"], n),
        "accuracy_ci95": list(wilson(count["correct"], n)),
        "wrong_rate": _ratio(count["wrong"], n),
        "abstention_rate": _ratio(count["abstained"], n),
        "error_rate": _ratio(count["error"], n),
        "accuracy_answered": _ratio(count["correct"], answered),
        "accuracy_answered_ci95": list(wilson(count["correct"], answered)),
        "calls_per_item": _ratio(calls, n),
        "tokens_per_item": _ratio(tokens, n),
        "cost_per_item_usd": _ratio(cost, n),
        "calls_per_correct": _ratio(calls, count["correct"]),
        "tokens_per_correct": _ratio(tokens, count["correct"]),
        "cost_per_correct_usd": _ratio(cost, count["correct"]),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
    }
    if baseline is not None:
        stats["vs_baseline"] = paired_stats(rows, baseline)
    return stats


def paired_stats(rows: Sequence[Row], baseline: Mapping[str, Row]) -> dict[str, Any]:
    """Accuracy difference against the baseline on the items both have, with McNemar and a bootstrap CI."""
    pairs = [
        (r["status"] == "correct", baseline[r["item"]]["status"] == "correct")
        for r in rows
        if r["item"] in baseline
    ]
    ours = [a for a, _ in pairs]
    theirs = [b for _, b in pairs]
    only_ours = sum(1 for a, b in pairs if a and not b)
    only_theirs = sum(1 for a, b in pairs if b and not a)
    n = len(pairs)
    return {
        "n": n,
        "diff": _ratio(sum(ours) - sum(theirs), n),
        "diff_ci95": list(paired_bootstrap(ours, theirs)),
        "only_this_right": only_ours,
        "only_baseline_right": only_theirs,
        "p_value": mcnemar(only_ours, only_theirs),
    }


def panel_stats(members: Mapping[str, Mapping[str, Row]], items: Sequence[str]) -> dict[str, Any]:
    """Each member alone, the best of them, the oracle, and how their errors coincide.

    ``members`` maps member name to its rows by item id; only items every member has count.
    """
    names = list(members)
    common = [i for i in items if all(i in members[m] for m in names)]
    right = {m: [members[m][i]["status"] == "correct" for i in common] for m in names}
    n = len(common)
    accuracy = {m: _ratio(sum(right[m]), n) for m in names}
    best = max(names, key=lambda m: (accuracy[m] or 0.0, -names.index(m))) if names else None
    oracle = sum(1 for k in range(n) if any(right[m][k] for m in names))
    wrong = {m: [not x for x in right[m]] for m in names}
    keys = {m: [members[m][i].get("extracted") for i in common] for m in names}
    return {
        "members": names,
        "n": n,
        "best_single": {"member": best, "accuracy": accuracy.get(best) if best else None},
        "oracle": {"accuracy": _ratio(oracle, n), "accuracy_ci95": list(wilson(oracle, n))},
        "majority_if_independent": majority_accuracy([accuracy[m] or 0.0 for m in names]) if n else None,
        "error_correlation": [[phi(wrong[a], wrong[b]) for b in names] for a in names],
        "both_wrong": [
            [_ratio(sum(1 for x, y in zip(wrong[a], wrong[b], strict=True) if x and y), n) for b in names]
            for a in names
        ],
        "same_wrong_answer": [
            [
                _ratio(
                    sum(
                        1
                        for k in range(n)
                        if wrong[a][k] and wrong[b][k] and keys[a][k] is not None and keys[a][k] == keys[b][k]
                    ),
                    n,
                )
                for b in names
            ]
            for a in names
        ],
    }
