"""benchmarks/ACCURACY.md from the recorded runs, with zero model calls.

For every (panel, dataset) run under benchmarks/accuracy/calls/, it replays the
longest prefix of the run's item order whose calls are all recorded (two
replays: one that learns member weights with --emit-weights, one that adds a
vote with those weights), then writes the tables. Run from the repository root:

    python benchmarks/accuracy/tables.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "benchmarks" / "accuracy"
SHOAL = [sys.executable, "-m", "orchestrator.cli"]
PANELS = {
    "default": {
        "team": "new",
        "best_sc": "self-consistency",
        "strategies": "vote,vote-old,self-consistency,cascade",
    },
    "strong": {
        "team": "strong",
        "best_sc": "self-consistency",
        "strategies": "vote,self-consistency,cascade",
    },
}
DATASETS = ("mmlu", "arc-challenge", "ja-numbers")
LIMIT, SEED = 100, 1


def complete_prefix(panel: str, dataset: str) -> int:
    """How many items, in the run's order, have every result (the rest were not reached)."""
    sys.path.insert(0, str(ROOT))
    from orchestrator.bench.datasets import load_items, select

    results = HERE / "runs" / f"{panel}-{dataset}" / "results.jsonl"
    if not results.exists():
        return 0
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_item: dict[str, int] = {}
    for row in rows:
        per_item[row["item"]] = per_item.get(row["item"], 0) + 1
    full = max(per_item.values(), default=0)
    items, _ = load_items(dataset)
    order = [i.id for i in select(items, limit=LIMIT, sample=SEED)]
    n = 0
    while n < len(order) and per_item.get(order[n], 0) == full:
        n += 1
    return n


def replay(panel: str, dataset: str, n: int) -> dict[str, Any]:
    spec = PANELS[panel]
    cache = HERE / "calls" / f"{panel}-{dataset}.sqlite"
    out = HERE / "replay" / f"{panel}-{dataset}"
    out.mkdir(parents=True, exist_ok=True)
    config = HERE / f"{panel}-panel.toml"
    common = [
        "-d",
        dataset,
        "-n",
        str(n),
        "--sample",
        str(SEED),
        "--replay",
        "--cache",
        str(cache),
        "--fresh",
    ]
    weights = out / "weights.toml"
    chosen, strategies = config, spec["strategies"]
    if n >= 20:  # --emit-weights needs 20 items
        _shoal(
            *common,
            "-c",
            str(config),
            "-s",
            strategies,
            "-o",
            str(out / "plain"),
            "--no-plots",
            "--emit-weights",
            str(weights),
        )
        chosen = out / "weighted.toml"
        chosen.write_text(
            f'include = ["{config}", "{weights}"]\n\n[strategies.weighted-vote]\nkind = "vote"\n'
            f'team = "{spec["team"]}"\nweights = "learned"\n',
            encoding="utf-8",
        )
        strategies += ",weighted-vote"
    _shoal(*common, "-c", str(chosen), "-s", strategies, "-o", str(out / "report"))
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    return summary


def _shoal(*args: str) -> None:
    done = subprocess.run([*SHOAL, "bench", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"shoal bench {' '.join(args)} failed:\n{done.stderr}")
    if "0 new model calls" not in done.stdout:
        raise SystemExit(f"a replay made model calls:\n{done.stdout}")


def row(label: str, s: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def ci(pair: list[float] | None) -> str:
        return "" if not pair else f" [{100 * pair[0]:.0f}, {100 * pair[1]:.0f}]"

    cal, sel = s.get("calibration") or {}, s.get("selective") or {}
    coverage = (s["correct"] + s["wrong"]) / s["n"] if s["n"] else None
    diff = sel.get("diff")
    vs = "-" if diff is None else f"{100 * diff:+.1f} pts{ci(sel.get('diff_ci95'))}"
    if diff is not None and sel.get("reached", 1) < sel["coverage"] - 1e-9:
        vs += f" (both at {pct(sel['reached'])})"
    ece = "-" if cal.get("ece") is None else f"{cal['ece']:.3f}"
    aurc = "-" if cal.get("aurc") is None else f"{cal['aurc']:.3f}"
    return (
        f"| {label} | {pct(s['accuracy'])}{ci(s['accuracy_ci95'])} | {pct(s['wrong_rate'])} | {pct(coverage)}"
        f" | {ece} | {aurc} | {s['calls_per_item']:.2f} | {vs} |"
    )


HEADER = (
    "| strategy | accuracy [95% CI] | wrong answers / item | coverage | ECE | AURC | calls / item |"
    " wrong/item vs best member at equal coverage [95% CI] |\n|---|---|---|---|---|---|---|---|"
)


def section(panel: str, dataset: str, n: int, summary: dict[str, Any]) -> list[str]:
    best = summary["panel"]["best_single"]["member"]
    strategies = summary["strategies"]
    lines = [f"### {panel} panel · {dataset} · {n} items", "", HEADER]
    lines.append(row(f"best single member (`{best}`)", summary["members"][best]))
    names = {
        "vote": "vote",
        "vote-old": "vote, old default team",
        "weighted-vote": "weighted vote (weights learned on these items)",
        "self-consistency": "self-consistency (best member, 5 samples)",
        "cascade": "cascade (cheap vote, then the full vote)",
    }
    for key, label in names.items():
        if key in strategies:
            lines.append(row(label, strategies[key]))
    lines += selective_lines(panel, dataset, best, [k for k in names if k in strategies])
    members = summary["panel"]["members"]
    lines += [
        "",
        "Members alone and their error correlation (phi):",
        "",
        "| member | accuracy | " + " | ".join(members) + " |",
        "|---|---|" + "---|" * len(members),
    ]
    for name, corr in zip(members, summary["panel"]["error_correlation"], strict=True):
        acc = summary["members"][name]["accuracy"]
        cells = " | ".join("-" if v is None else f"{v:.2f}" for v in corr)
        lines.append(f"| {name} | {100 * (acc or 0):.1f}% | {cells} |")
    lines += ["", *(f"- warning: {w}" for w in summary.get("warnings") or []), ""]
    return lines


def selective_lines(panel: str, dataset: str, best: str, names: list[str]) -> list[str]:
    """Wrong answers per 100 items when each side answers only its most confident 25% and 50%."""
    from orchestrator.bench.calibration import selective_vs

    rows: dict[str, list[dict[str, Any]]] = {}
    results = HERE / "replay" / f"{panel}-{dataset}" / "report" / "results.jsonl"
    for line in results.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        rows.setdefault(r["strategy"], []).append(r)
    reference = rows["member:" + best]
    lines = [
        "",
        f"Selective answering: wrong answers per 100 items at a fixed coverage, against `{best}` at the"
        " same coverage (paired bootstrap 95% interval of the difference):",
        "",
        "| strategy | at 25% coverage | at 50% coverage |",
        "|---|---|---|",
    ]
    for name in names:
        cells = []
        for coverage in (0.25, 0.5):
            v = selective_vs(rows[name], reference, coverage)
            low, high = v["diff_ci95"]
            cells.append(
                f"{100 * v['wrong']:.0f} vs {100 * v['reference_wrong']:.0f}"
                f" ({100 * v['diff']:+.0f} [{100 * low:+.0f}, {100 * high:+.0f}])"
                + ("" if v["reached"] >= coverage - 1e-9 else f", answers only {100 * v['reached']:.0f}%")
            )
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def main() -> None:
    out: list[str] = []
    for panel in PANELS:
        for dataset in DATASETS:
            n = complete_prefix(panel, dataset)
            if n == 0:
                out += [f"### {panel} panel · {dataset}", "", "Not run (no recorded calls).", ""]
                continue
            out += section(panel, dataset, n, replay(panel, dataset, n))
    (HERE / "tables.md").write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
