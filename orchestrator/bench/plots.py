"""PNG figures of a benchmark summary (matplotlib, imported only here, drawn off-screen).

- ``accuracy_cost.png``: accuracy (with its 95% CI) against cost per item (tokens
  per item when every call was free), strategies and members alone, with the
  Pareto frontier: the points no other point beats on both accuracy and cost.
- ``error_correlation.png``: the members' error correlation as a heatmap.
- ``reliability.png``: the reliability diagram of each strategy's confidence
  (accuracy against mean confidence per bin, bin counts as bars), and its
  risk-coverage curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["draw_all", "pareto_front"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) that no other point dominates, cheapest first.

    >>> pareto_front([(1, 0.5), (2, 0.7), (3, 0.6), (2, 0.4)])
    [0, 1]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def draw_all(summary: Mapping[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    written = [_accuracy_cost(summary, out / "accuracy_cost.png")]
    panel = summary.get("panel")
    if panel and len(panel["members"]) >= 2:
        written.append(_error_heatmap(panel, out / "error_correlation.png"))
    if any(s.get("calibration") for s in summary["strategies"].values()):
        written.append(draw_reliability(summary, out / "reliability.png"))
    return written


def draw_reliability(summary: Mapping[str, Any], path: Path) -> Path:
    """Reliability diagram (left) and risk-coverage curves (right) of the strategies."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=120)
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    counts = left.twinx()
    entries = [(n, s["calibration"]) for n, s in summary["strategies"].items() if s.get("calibration")]
    width = 0.1 / max(1, len(entries))
    for k, (name, cal) in enumerate(entries):
        filled = [b for b in cal["ece_bins"] if b["n"]]
        xs = [b["confidence"] for b in filled]
        ys = [b["accuracy"] for b in filled]
        ece = "-" if cal["ece"] is None else f"{cal['ece']:.3f}"
        (line,) = left.plot(xs, ys, marker="o", label=f"{name} (ECE {ece})")
        counts.bar(
            [b["low"] + width * (k + 0.5) for b in cal["ece_bins"]],
            [b["n"] for b in cal["ece_bins"]],
            width=width,
            alpha=0.2,
            color=line.get_color(),
        )
        curve = cal["risk_coverage"]
        aurc = "-" if cal["aurc"] is None else f"{cal['aurc']:.3f}"
        right.plot(
            [p["coverage"] for p in curve],
            [p["risk"] for p in curve],
            marker=".",
            color=line.get_color(),
            label=f"{name} (AURC {aurc})",
        )
    left.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (bin mean)", ylabel="accuracy in bin")
    counts.set_ylabel("items per bin (bars)")
    left.set_title("Reliability")
    left.legend(loc="upper left", fontsize=7)
    right.set(xlim=(0, 1), ylim=(0, 1), xlabel="coverage (share of items answered)")
    right.set_ylabel("risk (share of the answers that is wrong)")
    right.set_title("Risk-coverage (most confident first)")
    right.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _accuracy_cost(summary: Mapping[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    entries = [(name, s, "strategy") for name, s in summary["strategies"].items()]
    entries += [(f"member:{name}", s, "member") for name, s in summary["members"].items()]
    entries = [e for e in entries if e[1]["n"]]
    by_cost = any((s["cost_per_item_usd"] or 0) > 0 for _, s, _ in entries)
    metric, label = (
        ("cost_per_item_usd", "cost per item (USD)") if by_cost else ("tokens_per_item", "tokens per item")
    )
    xs = [float(s[metric] or 0.0) for _, s, _ in entries]
    ys = [float(s["accuracy"] or 0.0) for _, s, _ in entries]
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    labels: dict[tuple[float, float], list[str]] = {}
    for (name, s, kind), x, y in zip(entries, xs, ys, strict=True):
        low, high = s["accuracy_ci95"]
        colour = "tab:blue" if kind == "strategy" else "tab:gray"
        ax.errorbar(
            x,
            y,
            yerr=[[max(0.0, y - low)], [max(0.0, high - y)]],
            fmt="o" if kind == "strategy" else "s",
            color=colour,
            ecolor=colour,
            elinewidth=1,
            capsize=4,
            markersize=7,
            alpha=0.9,
        )
        labels.setdefault((round(x, 6), round(y, 6)), []).append(name)
    for x, y, text, colour in _label_blocks(labels, xs):
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(9, 4),
            fontsize=9,
            color=colour,
            va="top" if y > 0.5 else "bottom",  # grow towards the middle of the plot
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            zorder=5,
        )
    front = pareto_front(list(zip(xs, ys, strict=True)))
    if front:
        ax.plot(
            [xs[i] for i in front],
            [ys[i] for i in front],
            "--o",
            color="tab:orange",
            linewidth=1.2,
            markersize=14,
            markerfacecolor="none",
            label="Pareto frontier",
        )
    panel = summary.get("panel")
    if panel and panel["oracle"]["accuracy"] is not None:
        ax.axhline(
            panel["oracle"]["accuracy"],
            color="tab:green",
            linestyle=":",
            linewidth=1,
            label="oracle (any member right)",
        )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.9)
    dataset = summary["dataset"]
    ax.set_title(
        f"{dataset.get('name')}: accuracy vs {label} ({dataset['items']} items, 95% CI)", fontsize=11
    )
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.1)
    left, right = min(xs, default=0.0), max(xs, default=1.0)
    pad = (right - left) * 0.15 or max(right, 1.0) * 0.15
    ax.set_xlim(max(0.0, left - pad) if left >= 0 else left - pad, right + 2 * pad)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _label_blocks(
    labels: dict[tuple[float, float], list[str]], xs: Sequence[float]
) -> list[tuple[float, float, str, str]]:
    """One text block per cluster of nearby points (so labels never overlap): its lines, top point first,
    name the points with their accuracy."""
    span = (max(xs) - min(xs)) or 1.0
    clusters: list[list[tuple[float, float, list[str]]]] = []
    for (x, y), names in sorted(labels.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        for cluster in clusters:
            if any(abs(cx - x) < 0.3 * span and abs(cy - y) < 0.08 for cx, cy, _ in cluster):
                cluster.append((x, y, names))
                break
        else:
            clusters.append([(x, y, names)])
    blocks = []
    for cluster in clusters:
        cluster.sort(key=lambda p: -p[1])
        lines = [f"{' = '.join(names)} ({100 * y:.0f}%)" for _, y, names in cluster]
        strategies = any(not n.startswith("member:") for _, _, names in cluster for n in names)
        x = max(p[0] for p in cluster)
        blocks.append((x, cluster[0][1] + 0.02, "\n".join(lines), "tab:blue" if strategies else "tab:gray"))
    return blocks


def _error_heatmap(panel: Mapping[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    names: list[str] = panel["members"]
    matrix = [[float("nan") if v is None else float(v) for v in row] for row in panel["error_correlation"]]
    size = 2.2 + 1.1 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=120)
    image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            text = "n/a" if value != value else f"{value:.2f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=10,
                color="white" if value == value and abs(value) > 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, label="error correlation (phi)")
    ax.set_title(f"Members' error correlation ({panel['n']} items)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
