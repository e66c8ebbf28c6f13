"""The report's plots as inline SVG: every mark carries its values in ``data-tip`` (shown on hover).

Drawn from the summary and the result rows alone, in plain Python, so report.html
needs neither matplotlib nor anything at view time.

>>> reliability_bins([{"status": "correct", "confidence": 0.95}, {"status": "wrong", "confidence": 0.9}])[-1]
{'low': 0.9, 'high': 1.0, 'n': 2, 'confidence': 0.925, 'accuracy': 0.5}
>>> risk_coverage([{"status": "correct", "confidence": 0.9}, {"status": "wrong", "confidence": 0.4}])
[(0.5, 0.0), (1.0, 0.5)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from orchestrator.bench.calibration import points as answered
from orchestrator.bench.calibration import reliability

__all__ = [
    "accuracy_cost_svg",
    "heatmap_svg",
    "reliability_bins",
    "reliability_svg",
    "risk_coverage",
    "risk_svg",
]

Row = Mapping[str, Any]
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")
W, H = 460, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 44


def colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def reliability_bins(rows: Sequence[Row], n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width confidence bins of the answered rows: count, mean confidence, accuracy
    (the bins of :func:`orchestrator.bench.calibration.reliability`, rounded for the page)."""

    def rounded(x: float | None) -> float | None:
        return round(x, 6) if x is not None else None

    return [
        {**b, "low": round(b["low"], 6), "high": round(b["high"], 6)}
        | {"confidence": rounded(b["confidence"]), "accuracy": rounded(b["accuracy"])}
        for b in reliability(rows, n_bins)["bins"]
    ]


def risk_coverage(rows: Sequence[Row]) -> list[tuple[float, float]]:
    """(coverage, risk) when only the most confident answers are given, over all the rows' items:
    coverage is the share of items answered, risk the share of those answers that is wrong."""
    points = sorted(answered(rows), key=lambda p: -p[0])
    total = len(rows)
    curve, wrong = [], 0
    for k, (_, ok) in enumerate(points, start=1):
        wrong += not ok
        curve.append((k / total, wrong / k))
    return curve


# -- drawing -------------------------------------------------------------------------------


class _Frame:
    """Axes mapping data to the SVG box, and the SVG text built so far."""

    def __init__(self, title: str, xlabel: str, ylabel: str, x: tuple[float, float], y: tuple[float, float]):
        self.x0, self.x1 = x
        self.y0, self.y1 = y
        self.parts: list[str] = [
            f'<svg viewBox="0 0 {W} {H}" class="plot" role="img" aria-label="{escape(title)}">',
            f'<text x="{W / 2}" y="16" class="title">{escape(title)}</text>',
            f'<text x="{W / 2}" y="{H - 6}" class="label">{escape(xlabel)}</text>',
            f'<text x="14" y="{H / 2}" class="label" transform="rotate(-90 14 {H / 2})">'
            f"{escape(ylabel)}</text>",
        ]

    def px(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return round(LEFT + (x - self.x0) / span * (W - LEFT - RIGHT), 2)

    def py(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return round(H - BOTTOM - (y - self.y0) / span * (H - TOP - BOTTOM), 2)

    def axes(self, xticks: Sequence[tuple[float, str]], yticks: Sequence[tuple[float, str]]) -> None:
        for value, text in yticks:
            y = self.py(value)
            self.parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}" class="grid"/>')
            self.parts.append(
                f'<text x="{LEFT - 4}" y="{y + 4}" class="tick" text-anchor="end">{text}</text>'
            )
        for value, text in xticks:
            x = self.px(value)
            self.parts.append(f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{H - BOTTOM}" class="grid"/>')
            self.parts.append(f'<text x="{x}" y="{H - BOTTOM + 14}" class="tick">{text}</text>')

    def add(self, svg: str) -> None:
        self.parts.append(svg)

    def legend(self, names: Sequence[str], *, bottom: bool = False) -> None:
        for k, name in enumerate(names):
            y = (H - BOTTOM - 8 - 14 * (len(names) - 1 - k)) if bottom else TOP + 6 + 14 * k
            self.parts.append(
                f'<rect x="{W - RIGHT - 118}" y="{y - 8}" width="10" height="10" fill="{colour(k)}"/>'
                f'<text x="{W - RIGHT - 104}" y="{y + 1}" class="legend">{escape(name[:18])}</text>'
            )

    def svg(self) -> str:
        return "".join([*self.parts, "</svg>"])


def _pct_ticks(n: int = 5) -> list[tuple[float, str]]:
    return [(k / n, f"{100 * k // n}%") for k in range(n + 1)]


def _tip(text: str) -> str:
    return f'data-tip="{escape(text, quote=True)}"'


def accuracy_cost_svg(summary: Mapping[str, Any]) -> str:
    """Accuracy (95% CI) against cost per item, or tokens per item when every call was free."""
    entries = [(n, s) for n, s in summary["strategies"].items() if s["n"]]
    entries += [(f"member:{n}", s) for n, s in summary["members"].items() if s["n"]]
    priced = any((s["cost_per_item_usd"] or 0) > 0 for _, s in entries)
    metric, label = (
        ("cost_per_item_usd", "cost per item (USD)") if priced else ("tokens_per_item", "tokens per item")
    )
    xs = [float(s[metric] or 0.0) for _, s in entries]
    top = max(xs, default=1.0) * 1.1 or 1.0
    frame = _Frame("Accuracy vs " + label, label, "accuracy", (0.0, top), (0.0, 1.0))
    frame.axes([(top * k / 4, _short(top * k / 4, priced)) for k in range(5)], _pct_ticks())
    labels: dict[tuple[float, float], list[str]] = {}  # points that coincide share one label
    for k, ((name, s), x) in enumerate(zip(entries, xs, strict=True)):
        low, high = s["accuracy_ci95"]
        acc = s["accuracy"] or 0.0
        cx, cy = frame.px(x), frame.py(acc)
        fill = colour(k) if not name.startswith("member:") else "#888"
        tip = (
            f"{name}: accuracy {100 * acc:.1f}% [{100 * low:.1f}, {100 * high:.1f}],"
            f" {label} {_short(x, priced)}, wrong {100 * (s['wrong_rate'] or 0):.1f}%"
        )
        frame.add(
            f'<g class="mark" {_tip(tip)}>'
            f'<line x1="{cx}" x2="{cx}" y1="{frame.py(low)}" y2="{frame.py(high)}" stroke="{fill}"/>'
            f'<circle cx="{cx}" cy="{cy}" r="6" fill="{fill}"/></g>'
        )
        labels.setdefault((cx, cy), []).append(name)
    for (cx, cy), names in labels.items():
        anchor = "end" if cx > W * 0.7 else "start"
        dx = -8 if anchor == "end" else 8
        frame.add(
            f'<text x="{cx + dx}" y="{cy - 6}" text-anchor="{anchor}" class="point-label">'
            f"{escape(' = '.join(names))}</text>"
        )
    return frame.svg()


def _short(x: float, money: bool) -> str:
    if money:
        return f"${x:.2g}" if x else "$0"
    return f"{x:,.0f}"


def reliability_svg(rows_by_name: Mapping[str, Sequence[Row]]) -> str:
    """Accuracy against mean confidence per confidence bin, one line per strategy; the diagonal
    is perfect calibration."""
    frame = _Frame("Calibration (reliability)", "confidence", "accuracy", (0.0, 1.0), (0.0, 1.0))
    frame.axes(_pct_ticks(), _pct_ticks())
    frame.add(
        f'<line x1="{frame.px(0)}" y1="{frame.py(0)}" x2="{frame.px(1)}" y2="{frame.py(1)}" class="diag"/>'
    )
    for k, (name, rows) in enumerate(rows_by_name.items()):
        bins = [b for b in reliability_bins(rows) if b["n"]]
        path = " ".join(f"{frame.px(b['confidence'])},{frame.py(b['accuracy'])}" for b in bins)
        frame.add(f'<polyline points="{path}" fill="none" stroke="{colour(k)}" class="series"/>')
        for b in bins:
            tip = (
                f"{name}: confidence {b['low']:.1f}-{b['high']:.1f}, {b['n']} answers,"
                f" mean confidence {100 * b['confidence']:.1f}%, accuracy {100 * b['accuracy']:.1f}%"
            )
            frame.add(
                f'<circle class="mark" cx="{frame.px(b["confidence"])}" cy="{frame.py(b["accuracy"])}"'
                f' r="4" fill="{colour(k)}" {_tip(tip)}/>'
            )
    frame.legend(list(rows_by_name), bottom=True)  # below the diagonal: where few bins fall
    return frame.svg()


def risk_svg(rows_by_name: Mapping[str, Sequence[Row]]) -> str:
    """Risk (share of answers wrong) against coverage (share of items answered), most confident first."""
    frame = _Frame(
        "Risk vs coverage", "coverage (items answered)", "risk (answers wrong)", (0.0, 1.0), (0.0, 1.0)
    )
    frame.axes(_pct_ticks(), _pct_ticks())
    for k, (name, rows) in enumerate(rows_by_name.items()):
        curve = risk_coverage(rows)
        if not curve:
            continue
        step = max(1, len(curve) // 200)  # at most ~200 vertices a line
        shown = curve[::step] if curve[-1] in curve[::step] else [*curve[::step], curve[-1]]
        path = " ".join(f"{frame.px(c)},{frame.py(r)}" for c, r in shown)
        frame.add(f'<polyline points="{path}" fill="none" stroke="{colour(k)}" class="series"/>')
        for c, r in [*shown[:: max(1, len(shown) // 20)], shown[-1]]:
            tip = f"{name}: answering {100 * c:.1f}% of items, {100 * r:.1f}% of those answers wrong"
            frame.add(
                f'<circle class="mark" cx="{frame.px(c)}" cy="{frame.py(r)}" r="3.5"'
                f' fill="{colour(k)}" {_tip(tip)}/>'
            )
    frame.legend(list(rows_by_name))
    return frame.svg()


def heatmap_svg(panel: Mapping[str, Any]) -> str:
    """The members' error correlation (phi): red when they fail together, blue when apart."""
    names: list[str] = panel["members"]
    n = max(1, len(names))
    size = min(60, (H - TOP - BOTTOM) / n)
    parts = [
        f'<svg viewBox="0 0 {W} {H}" class="plot" role="img" aria-label="error correlation">',
        f'<text x="{W / 2}" y="16" class="title">Members\' error correlation ({panel["n"]} items)</text>',
    ]
    x0, y0 = 120, TOP + 8
    for i, a in enumerate(names):
        parts.append(
            f'<text x="{x0 - 6}" y="{y0 + i * size + size / 2 + 4}" class="tick" text-anchor="end">'
            f"{escape(a)}</text>"
        )
        parts.append(
            f'<text x="{x0 + i * size + size / 2}" y="{y0 + n * size + 14}" class="tick">'
            f"{escape(a[:10])}</text>"
        )
        for j, b in enumerate(names):
            value = panel["error_correlation"][i][j]
            fill = "#ddd" if value is None else _diverging(float(value))
            text = "n/a" if value is None else f"{value:.2f}"
            tip = f"{a} ~ {b}: phi {text}"
            parts.append(
                f'<g class="mark" {_tip(tip)}><rect x="{x0 + j * size}" y="{y0 + i * size}"'
                f' width="{size - 1}" height="{size - 1}" fill="{fill}"/>'
                f'<text x="{x0 + j * size + size / 2}"'
                f' y="{y0 + i * size + size / 2 + 4}" class="cell">{text}</text></g>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _diverging(value: float) -> str:
    """-1 blue, 0 white, 1 red."""
    v = max(-1.0, min(1.0, value))
    if v >= 0:
        return f"rgb(255,{round(255 * (1 - v))},{round(255 * (1 - v))})"
    return f"rgb({round(255 * (1 + v))},{round(255 * (1 + v))},255)"
