"""Config from a run: the ``abstain_below`` that meets a wrong-answer target, and learned member weights.

``thresholds``: per strategy, the lowest ``abstain_below`` whose answered items
are at most ``max_wrong`` wrong (wrong answers / answers given), that is the
largest coverage meeting the target; per router category too when the category
has enough items. ``weights``: per category (``default``: all items), each
member's log-odds weight ``log((K - 1) p / (1 - p))`` (the optimal weight of
independent voters with accuracy ``p`` over ``K`` options), with ``p`` shrunk
toward the panel's mean accuracy by :data:`PRIOR_ITEMS` pseudo-items, so a
member measured on few items gets nearly the equal weight. Both are written as
TOML a config takes in with ``include = ["FILE"]`` (see :mod:`orchestrator.tuning`).

>>> round(log_odds_weight(0.75, 4), 3)
2.197
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.bench.runner import MEMBER_PREFIX, _write_atomic
from orchestrator.errors import UsageError

__all__ = [
    "MIN_WEIGHT_ITEMS",
    "PRIOR_ITEMS",
    "choose_thresholds",
    "learn_weights",
    "log_odds_weight",
    "needed_for_thresholds",
    "write_thresholds",
    "write_weights",
]

PRIOR_ITEMS = 20
MIN_WEIGHT_ITEMS = 20
_OPTIONS = {"choice": 4, "yesno": 2}  # other answer types: many possible wrong answers
_MANY = 10
_FLOOR = 0.05

Row = Mapping[str, Any]


def needed_for_thresholds(max_wrong: float) -> int:
    """Items a threshold needs to rest on: enough that the target is three wrong answers."""
    return math.ceil(3 / max_wrong)


def _threshold(rows: Sequence[Row], max_wrong: float) -> dict[str, Any] | None:
    answered = sorted(
        (r for r in rows if r["status"] in ("correct", "wrong") and r.get("confidence") is not None),
        key=lambda r: -float(r["confidence"]),
    )
    best: dict[str, Any] | None = None
    wrong = 0
    for k, row in enumerate(answered):
        wrong += row["status"] == "wrong"
        level = float(row["confidence"])
        if k + 1 < len(answered) and float(answered[k + 1]["confidence"]) == level:
            continue  # a threshold cannot split equal confidences
        if wrong / (k + 1) <= max_wrong:
            best = {
                "abstain_below": math.floor(level * 10_000) / 10_000,
                "answered": k + 1,
                "wrong": wrong,
                "items": len(rows),
            }
    return best


def choose_thresholds(
    rows: Sequence[Row], strategies: Sequence[str], max_wrong: float
) -> dict[str, dict[str, Any]]:
    """Per strategy: ``{"all": threshold or None, "categories": {category: threshold}}``."""
    need = needed_for_thresholds(max_wrong)
    out: dict[str, dict[str, Any]] = {}
    for name in strategies:
        mine = [r for r in rows if r["strategy"] == name]
        if len(mine) < need:
            raise UsageError(
                f"--emit-thresholds --max-wrong {max_wrong:g} needs at least {need} items per strategy"
                f" (3 / max-wrong); {name} has {len(mine)}: run more items (--limit) or raise --max-wrong"
            )
        categories: dict[str, Any] = {}
        for category in sorted({str(r.get("category")) for r in mine if r.get("category")}):
            inside = [r for r in mine if r.get("category") == category]
            if len(inside) >= need:
                categories[category] = _threshold(inside, max_wrong)
        out[name] = {"all": _threshold(mine, max_wrong), "items": len(mine), "categories": categories}
    return out


def write_thresholds(
    path: Path, chosen: Mapping[str, Mapping[str, Any]], max_wrong: float, source: str
) -> Path:
    lines = [
        f"# shoal bench --emit-thresholds --max-wrong {max_wrong:g}: from {source}.",
        f"# Per strategy, the abstain_below keeping wrong answers at or below {100 * max_wrong:g}% of the",
        '# answers given, with the most items answered. Take it in with include = ["THIS FILE"].',
        "",
    ]
    for name, info in chosen.items():
        found = info["all"]
        lines.append(f'[strategies."{name}"]')
        if found is None:
            lines += [
                f"# no abstain_below meets {100 * max_wrong:g}% on these {info['items']} items: even its",
                "# most confident answers are wrong more often than that; nothing is set for it",
            ]
        else:
            lines.append(
                f"abstain_below = {found['abstain_below']}  # answers {found['answered']} of {found['items']}"
                f" items, {found['wrong']} wrong; rests on {found['items']} items"
            )
        for category, one in info["categories"].items():
            value = "none meets the target" if one is None else f"{one['abstain_below']}"
            detail = (
                "" if one is None else f" (answers {one['answered']} of {one['items']}, {one['wrong']} wrong)"
            )
            lines.append(f"# category {category}: abstain_below = {value}{detail}")
        lines.append("")
    _write_atomic(path, "\n".join(lines))
    return path


def log_odds_weight(p: float, options: int) -> float:
    """The weight of an independent voter right with probability ``p`` among ``options`` answers."""
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log((options - 1) * p / (1 - p))


def _weights(rows_by_member: Mapping[str, Sequence[Row]], options: int) -> dict[str, float]:
    accuracy = {
        m: (sum(r["status"] == "correct" for r in rows), len(rows)) for m, rows in rows_by_member.items()
    }
    total = sum(n for _, n in accuracy.values())
    mean = sum(k for k, _ in accuracy.values()) / total if total else 0.5
    raw = {
        m: max(_FLOOR, log_odds_weight((k + PRIOR_ITEMS * mean) / (n + PRIOR_ITEMS), options))
        for m, (k, n) in accuracy.items()
    }
    scale = len(raw) / sum(raw.values())
    return {m: round(w * scale, 4) for m, w in raw.items()}


def learn_weights(rows: Sequence[Row], members: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{category: {"weights": {member: w}, "items": n}}``; ``default`` is every item."""
    mine = {m: [r for r in rows if r["strategy"] == MEMBER_PREFIX + m] for m in members}
    n = min((len(v) for v in mine.values()), default=0)
    if len(members) < 2 or n < MIN_WEIGHT_ITEMS:
        raise UsageError(
            f"--emit-weights needs at least {MIN_WEIGHT_ITEMS} items answered by each of at least two"
            f" members alone; this run has {n} items and {len(members)} members (run more items, and"
            " keep --members)"
        )
    kinds = [str(r.get("answer_type")) for r in next(iter(mine.values()))]
    options = round(sum(_OPTIONS.get(k, _MANY) for k in kinds) / len(kinds))
    out = {"default": {"weights": _weights(mine, options), "items": n}}
    categories = sorted({str(r.get("category")) for v in mine.values() for r in v if r.get("category")})
    for category in categories:
        inside = {m: [r for r in v if r.get("category") == category] for m, v in mine.items()}
        count = min(len(v) for v in inside.values())
        if count >= MIN_WEIGHT_ITEMS and len(categories) > 1:
            out[category] = {"weights": _weights(inside, options), "items": count}
    return out


def write_weights(path: Path, learned: Mapping[str, Mapping[str, Any]], source: str) -> Path:
    lines = [
        f"# shoal bench --emit-weights: from {source}. Log-odds weights of each member's accuracy, shrunk",
        f"# toward equal weights by {PRIOR_ITEMS} pseudo-items; mean weight 1. Take them in with",
        '# include = ["THIS FILE"] and weights = "learned" on a vote.',
        "",
    ]
    for category, info in learned.items():
        lines.append(f"[weights.{category}]  # rests on {info['items']} items")
        lines += [f'"{member}" = {weight}' for member, weight in info["weights"].items()]
        lines.append("")
    _write_atomic(path, "\n".join(lines))
    return path
