"""Does a verdict's confidence mean anything? Calibration and selective answering, from result rows.

A row counts for calibration when it was answered (``correct`` or ``wrong``) and
has a confidence. An abstained or failed row is an item not covered.

- :func:`reliability`: expected calibration error over equal-width bins, with
  each bin's count, mean confidence and accuracy (what the reliability diagram draws);
- :func:`brier`: mean squared gap between confidence and correctness;
- :func:`bands`: accuracy by confidence band;
- :func:`risk_coverage`: answer only the most confident items first; the share
  answered (coverage) against the share of those answers that is wrong (risk),
  and the area under that curve (AURC; lower is better);
- :func:`wrong_at_coverage`: the wrong answers per item when a strategy answers
  only its most confident ``coverage`` share of the items.
- :func:`selective_vs`: that figure for a strategy and a reference at equal
  coverage, with a paired bootstrap interval of the difference.

>>> rows = [{"item": str(i), "status": s, "confidence": c}
...         for i, (s, c) in enumerate([("correct", 1.0), ("correct", 0.9), ("wrong", 0.6), ("wrong", 0.3)])]
>>> round(reliability(rows)["ece"], 3)
0.25
>>> round(risk_coverage(rows)["aurc"], 3)
0.146
>>> wrong_at_coverage(rows, 0.5)
0.0
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.bench.stats import percentile

__all__ = [
    "BANDS",
    "bands",
    "brier",
    "calibration_stats",
    "points",
    "reliability",
    "risk_coverage",
    "selective_vs",
    "wrong_at_coverage",
]

Row = Mapping[str, Any]
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0))


def points(rows: Sequence[Row]) -> list[tuple[float, bool]]:
    """(confidence, correct) of the answered rows that carry a confidence."""
    return [
        (float(r["confidence"]), r["status"] == "correct")
        for r in rows
        if r["status"] in ("correct", "wrong") and r.get("confidence") is not None
    ]


def reliability(rows: Sequence[Row], n_bins: int = 10) -> dict[str, Any]:
    """ECE over ``n_bins`` equal-width bins (confidence 1.0 falls in the last), with every bin."""
    pts = points(rows)
    bins: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        inside = [(c, ok) for c, ok in pts if low <= c < high or (b == n_bins - 1 and c == high)]
        confidence = sum(c for c, _ in inside) / len(inside) if inside else None
        accuracy = sum(ok for _, ok in inside) / len(inside) if inside else None
        if inside and confidence is not None and accuracy is not None:
            ece += len(inside) / len(pts) * abs(confidence - accuracy)
        bins.append(
            {"low": low, "high": high, "n": len(inside), "confidence": confidence, "accuracy": accuracy}
        )
    return {"ece": ece if pts else None, "n": len(pts), "bins": bins}


def brier(rows: Sequence[Row]) -> float | None:
    pts = points(rows)
    return sum((c - float(ok)) ** 2 for c, ok in pts) / len(pts) if pts else None


def bands(rows: Sequence[Row], edges: Sequence[tuple[float, float]] = BANDS) -> list[dict[str, Any]]:
    """Accuracy of the answers whose confidence lies in each band (the last band includes 1.0)."""
    pts = points(rows)
    out = []
    for i, (low, high) in enumerate(edges):
        last = i == len(edges) - 1
        inside = [ok for c, ok in pts if low <= c < high or (last and c == high)]
        out.append(
            {
                "low": low,
                "high": high,
                "n": len(inside),
                "accuracy": sum(inside) / len(inside) if inside else None,
            }
        )
    return out


def _ranked(rows: Sequence[Row]) -> list[tuple[float, bool]]:
    """Answered rows, most confident first; ties keep item order (deterministic)."""
    pts = [
        (float(r.get("confidence") or 0.0), r["status"] == "correct", k)
        for k, r in enumerate(rows)
        if r["status"] in ("correct", "wrong")
    ]
    pts.sort(key=lambda p: (-p[0], p[2]))
    return [(c, ok) for c, ok, _ in pts]


def risk_coverage(rows: Sequence[Row]) -> dict[str, Any]:
    """The risk-coverage curve over all items (one point per distinct confidence) and its area.

    Items with equal confidence enter together (a threshold cannot split them).
    AURC is the mean selective risk over coverage from 0 to the strategy's
    coverage, as the trapezoid area; a strategy that never answers has none.
    """
    n = len(rows)
    ranked = _ranked(rows)
    curve: list[dict[str, float]] = []
    covered = wrong = 0
    k = 0
    while k < len(ranked):
        level = ranked[k][0]
        while k < len(ranked) and ranked[k][0] == level:
            covered += 1
            wrong += not ranked[k][1]
            k += 1
        curve.append({"threshold": level, "coverage": covered / n, "risk": wrong / covered})
    if not curve:
        return {"curve": [], "aurc": None}
    area = curve[0]["coverage"] * curve[0]["risk"]
    for a, b in itertools.pairwise(curve):
        area += (b["coverage"] - a["coverage"]) * (a["risk"] + b["risk"]) / 2
    return {"curve": curve, "aurc": area / curve[-1]["coverage"]}


def _wrong_flags(rows: Sequence[Row], coverage: float) -> dict[str, bool]:
    """Per item: answered among the ``coverage`` most confident and wrong."""
    n = len(rows)
    take = math.ceil(round(coverage * n, 9))
    answered = sorted(
        (r for r in rows if r["status"] in ("correct", "wrong")),
        key=lambda r: -float(r.get("confidence") or 0.0),
    )
    chosen = {r["item"] for r in answered[:take]}
    return {r["item"]: r["item"] in chosen and r["status"] == "wrong" for r in rows}


def wrong_at_coverage(rows: Sequence[Row], coverage: float) -> float | None:
    """Wrong answers per item when only the ``coverage`` share of items most confidently answered is."""
    if not rows:
        return None
    flags = _wrong_flags(rows, coverage)
    return sum(flags.values()) / len(rows)


def selective_vs(
    rows: Sequence[Row], reference: Sequence[Row], coverage: float, *, rounds: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Wrong answers per item of ``rows`` and of ``reference`` at the same coverage, on their common
    items, with a paired bootstrap 95% interval of the difference (negative: fewer wrong answers).

    ``coverage`` is the share the comparison aims at (the reference's own coverage, in the bench).
    When ``rows`` answers less than that, both sides are compared at the share ``rows`` does answer
    (``reached``): the reference then answers only its own most confident items, as many, so an
    abstaining strategy is never credited merely for answering less.
    """
    ref = {r["item"]: r for r in reference}
    common = [r for r in rows if r["item"] in ref]
    items = [r["item"] for r in common]
    if not items:
        return {"coverage": coverage, "n": 0, "wrong": None, "reference_wrong": None, "diff": None}
    answered = sum(1 for r in common if r["status"] in ("correct", "wrong"))
    reached = min(coverage, answered / len(items))
    mine = _wrong_flags(common, reached)
    theirs = _wrong_flags([ref[r["item"]] for r in common], reached)
    diffs = [int(mine[i]) - int(theirs[i]) for i in items]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(rounds))
    return {
        "coverage": coverage,
        "reached": reached,  # both sides answer this share of the items
        "n": len(items),
        "wrong": sum(mine.values()) / len(items),
        "reference_wrong": sum(theirs.values()) / len(items),
        "diff": sum(diffs) / len(diffs),
        "diff_ci95": [percentile(means, 2.5), percentile(means, 97.5)],
    }


def calibration_stats(rows: Sequence[Row]) -> dict[str, Any]:
    """Everything above for one strategy's rows (the curve is kept for the plots)."""
    rel = reliability(rows)
    rc = risk_coverage(rows)
    return {
        "ece": rel["ece"],
        "ece_bins": rel["bins"],
        "brier": brier(rows),
        "bands": bands(rows),
        "aurc": rc["aurc"],
        "risk_coverage": rc["curve"],
    }
