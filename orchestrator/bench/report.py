"""A benchmark's outputs: summary.json, report.md, the terminal tables, and comparing two runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.bench.calibration import calibration_stats, selective_vs
from orchestrator.bench.diagnostics import warnings_for
from orchestrator.bench.runner import MEMBER_PREFIX, RESULTS, BenchOutcome, _read_rows, _write_atomic
from orchestrator.bench.stats import mcnemar, panel_stats, strategy_stats
from orchestrator.errors import UsageError

__all__ = ["build_summary", "compare", "load_summary", "render_markdown", "write_outputs"]

SUMMARY = "summary.json"
REPORT = "report.md"


def build_summary(outcome: BenchOutcome, dataset: Mapping[str, Any]) -> dict[str, Any]:
    """Every statistic of a run; all but ``run`` are a deterministic function of the result rows."""
    by_strategy: dict[str, dict[str, dict[str, Any]]] = {}
    for row in outcome.rows:
        by_strategy.setdefault(row["strategy"], {})[row["item"]] = row
    base = by_strategy.get(outcome.baseline, {})

    def stats_of(name: str) -> dict[str, Any]:
        rows = list(by_strategy.get(name, {}).values())
        return strategy_stats(rows, None if name == outcome.baseline else base)

    members = {m: by_strategy.get(MEMBER_PREFIX + m, {}) for m in outcome.members}
    panel = panel_stats(members, outcome.item_ids) if outcome.members else None
    strategies = {s: stats_of(s) for s in outcome.strategies}
    member_stats = {m: stats_of(MEMBER_PREFIX + m) for m in outcome.members}
    best = panel["best_single"]["member"] if panel else None
    reference = list(members[best].values()) if best else []
    for key, stats in [*strategies.items(), *((MEMBER_PREFIX + m, v) for m, v in member_stats.items())]:
        rows = list(by_strategy.get(key, {}).values())
        stats["calibration"] = calibration_stats(rows)
        if reference:
            coverage = sum(1 for r in reference if r["status"] in ("correct", "wrong")) / len(reference)
            stats["selective"] = {"reference": best, **selective_vs(rows, reference, coverage)}
    return {
        "dataset": {**dataset, "items": len(outcome.item_ids)},
        "baseline": outcome.baseline,
        "strategies": strategies,
        "members": member_stats,
        "panel": panel,
        "warnings": warnings_for(outcome.rows, outcome.members),
        "run": {
            "complete": outcome.complete,
            "rows": len(outcome.rows),
            "new_calls": outcome.new_calls,
            "cached_calls": outcome.cached_calls,
            "replay_misses": outcome.replay_misses,
            "elapsed_s": round(outcome.elapsed_s, 3),
        },
    }


def write_outputs(out: Path, summary: Mapping[str, Any], *, plots: bool = True) -> list[Path]:
    """summary.json, report.md, report.html and (with matplotlib) the PNG plots; returns the files written."""
    _write_atomic(out / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _write_atomic(out / REPORT, render_markdown(summary))
    from orchestrator.bench.htmlreport import REPORT_HTML, render_html

    _write_atomic(out / REPORT_HTML, render_html(summary, _read_rows(out / RESULTS)))
    if not plots:
        return [out / SUMMARY, out / REPORT, out / REPORT_HTML]
    from orchestrator.bench.plots import draw_all  # raises ImportError without matplotlib

    figures = draw_all(summary, out)
    _write_atomic(out / REPORT, render_markdown(summary, [f.name for f in figures]))
    return [out / SUMMARY, out / REPORT, out / REPORT_HTML, *figures]


def load_summary(directory: Path) -> dict[str, Any]:
    path = directory / SUMMARY
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist; pass the --out directory of a finished `shoal bench` run"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg}); re-run the benchmark to rewrite it") from None
    return data


# -- formatting ------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ci(pair: Sequence[float] | None) -> str:
    return "-" if not pair else f"[{100 * pair[0]:.1f}, {100 * pair[1]:.1f}]"


def num(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def money(x: float | None) -> str:
    return "-" if x is None else f"${x:.6f}"


def p_value(x: float | None) -> str:
    return "-" if x is None else ("<0.001" if x < 0.001 else f"{x:.3f}")


STRATEGY_COLUMNS = (
    "strategy",
    "accuracy [95% CI]",
    "vs baseline [95% CI]",
    "McNemar p",
    "wrong",
    "abstained",
    "acc. answered",
    "calls/item",
    "tokens/item",
    "cost/item",
    "cost/correct",
    "p50 s",
    "p95 s",
)


def strategy_row(name: str, s: Mapping[str, Any]) -> list[str]:
    vs = s.get("vs_baseline")
    diff = "(baseline)" if vs is None else f"{100 * (vs['diff'] or 0):+.1f} pts {ci(vs['diff_ci95'])}"
    return [
        name,
        f"{pct(s['accuracy'])} {ci(s['accuracy_ci95'])}",
        diff,
        p_value(vs["p_value"]) if vs else "-",
        pct(s["wrong_rate"]),
        pct((s["abstention_rate"] or 0) + (s["error_rate"] or 0)),
        pct(s["accuracy_answered"]),
        num(s["calls_per_item"], 2),
        num(s["tokens_per_item"], 0),
        money(s["cost_per_item_usd"]),
        money(s["cost_per_correct_usd"]),
        num(s["latency_p50_s"], 2),
        num(s["latency_p95_s"], 2),
    ]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def render_markdown(summary: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
    dataset = summary["dataset"]
    run = summary["run"]
    lines = [
        f"# Benchmark: {dataset.get('name')}",
        "",
        f"{dataset.get('title') or dataset.get('path') or ''}  ",
        f"{dataset['items']} items · licence: {dataset.get('licence', '-')}"
        + (f" · package {dataset['package']}" if dataset.get("package") else ""),
        "",
        f"Baseline: `{summary['baseline']}`. Accuracy is over all items (abstentions and failures count as"
        " not correct); *acc. answered* is over the items answered. Intervals are 95% (Wilson for"
        " accuracy, paired bootstrap for the difference); the p-value is McNemar's exact test on the"
        " items where exactly one of the two was right. Latency is the recorded call latency on the"
        " critical path (slowest call per round).",
        "",
        "## Strategies",
        "",
        *_md_table(STRATEGY_COLUMNS, [strategy_row(n, s) for n, s in summary["strategies"].items()]),
    ]
    lines += render_calibration(summary)
    panel = summary.get("panel")
    if panel:
        lines += [
            "",
            "## Panel",
            "",
            *_md_table(STRATEGY_COLUMNS, [strategy_row(n, s) for n, s in summary["members"].items()]),
        ]
        best, oracle = panel["best_single"], panel["oracle"]
        lines += [
            "",
            f"- best single member: `{best['member']}` at {pct(best['accuracy'])}",
            f"- oracle (any member right): {pct(oracle['accuracy'])} {ci(oracle['accuracy_ci95'])}",
            f"- majority vote if the members erred independently: {pct(panel['majority_if_independent'])}",
            "",
            "Error correlation (phi of the members' failure indicators;"
            " 0 = independent, 1 = always fail together):",
            "",
            *_md_table(
                ["", *panel["members"]],
                [
                    [a, *(num(v, 2) for v in row)]
                    for a, row in zip(panel["members"], panel["error_correlation"], strict=True)
                ],
            ),
            "",
            "Both wrong with the same answer (share of items):",
            "",
            *_md_table(
                ["", *panel["members"]],
                [
                    [a, *(pct(v) for v in row)]
                    for a, row in zip(panel["members"], panel["same_wrong_answer"], strict=True)
                ],
            ),
        ]
    if summary.get("warnings"):
        lines += ["", "## Warnings", "", *(f"- {w}" for w in summary["warnings"])]
    for figure in figures:
        lines += ["", f"![{figure}]({figure})"]
    lines += [
        "",
        "## Run",
        "",
        f"{'complete' if run['complete'] else 'INCOMPLETE (interrupted; re-run the same command to resume)'}"
        f" · {run['rows']} results · {run['new_calls']} new model calls"
        f" · {run['cached_calls']} from the cache"
        f" · {run['replay_misses']} replay misses · {run['elapsed_s']:.1f} s",
        "",
    ]
    return "\n".join(lines)


CALIBRATION_COLUMNS = (
    "strategy",
    "ECE (10 bins)",
    "Brier",
    "AURC",
    "wrong/item at the best member's coverage",
    "vs best member [95% CI]",
    "accuracy by confidence band",
)


def _band_text(bands: Sequence[Mapping[str, Any]]) -> str:
    return " · ".join(
        f"{b['low']:.1f}-{b['high']:.1f}: {pct(b['accuracy'])} (n={b['n']})" for b in bands if b["n"]
    )


def calibration_row(name: str, s: Mapping[str, Any]) -> list[str]:
    cal = s.get("calibration") or {}
    sel = s.get("selective") or {}
    diff = sel.get("diff")
    vs = "-" if diff is None else f"{100 * diff:+.1f} pts {ci(sel.get('diff_ci95'))}"
    wrong = "-" if sel.get("wrong") is None else f"{pct(sel['wrong'])} at {pct(sel['coverage'])}"
    if sel.get("reached") is not None and sel["reached"] < sel["coverage"] - 1e-9:
        wrong = f"{pct(sel['wrong'])} at {pct(sel['reached'])} (it answers no more)"
    return [
        name,
        num(cal.get("ece"), 3),
        num(cal.get("brier"), 3),
        num(cal.get("aurc"), 3),
        wrong,
        vs,
        _band_text(cal.get("bands") or []),
    ]


def render_calibration(summary: Mapping[str, Any]) -> list[str]:
    """The calibration and selective-answering section of report.md."""
    members = [(MEMBER_PREFIX + m, s) for m, s in summary["members"].items()]
    entries = [*summary["strategies"].items(), *members]
    if not any(s.get("calibration") for _, s in entries):
        return []
    reference = next((s["selective"]["reference"] for _, s in entries if s.get("selective")), None)
    lines = [
        "",
        "## Confidence: calibration and selective answering",
        "",
        "ECE: expected calibration error of the verdict's confidence over 10 equal bins (answered items);"
        " Brier: mean squared gap between confidence and correctness; AURC: area under the"
        " risk-coverage curve (answer the most confident items first; lower is better)."
        + (
            f" The selective figure answers each strategy's most confident items, as many as the best"
            f" single member `{reference}` answers, and counts the wrong answers per item against that"
            " member's; a strategy that answers fewer items is compared at the share it answers, the"
            " member then answering only its own most confident items, as many. The interval of the"
            " difference is a paired bootstrap (negative: fewer wrong answers than that member)."
            if reference
            else ""
        ),
        "",
        *_md_table(CALIBRATION_COLUMNS, [calibration_row(n, s) for n, s in entries]),
        "",
        "Items per confidence bin (0.0-0.1, ..., 0.9-1.0):",
        "",
        *_md_table(
            ["strategy", *(f"{b / 10:.1f}" for b in range(10))],
            [
                [n, *(str(b["n"]) for b in s["calibration"]["ece_bins"])]
                for n, s in entries
                if s.get("calibration")
            ],
        ),
    ]
    return lines


TERMINAL_COLUMNS = (
    "strategy",
    "acc % (95% CI)",
    "Δ vs base",
    "wrong",
    "abst",
    "calls",
    "tok",
    "$/item",
    "p50/p95 s",
)


def terminal_row(name: str, s: Mapping[str, Any]) -> list[str]:
    """A compact row for an 80-column terminal (report.md has every column)."""
    vs = s.get("vs_baseline")
    low, high = s["accuracy_ci95"]
    return [
        name,
        f"{100 * (s['accuracy'] or 0):.1f} ({100 * low:.1f}-{100 * high:.1f})",
        "-" if vs is None else f"{100 * (vs['diff'] or 0):+.1f} p={p_value(vs['p_value'])}",
        f"{100 * (s['wrong_rate'] or 0):.1f}%",
        f"{100 * ((s['abstention_rate'] or 0) + (s['error_rate'] or 0)):.1f}%",
        num(s["calls_per_item"], 1),
        num(s["tokens_per_item"], 0),
        "0" if not s["cost_per_item_usd"] else f"{s['cost_per_item_usd']:.2g}",
        f"{s['latency_p50_s']:.2f}/{s['latency_p95_s']:.2f}",
    ]


def print_summary(summary: Mapping[str, Any], console: Any) -> None:
    """The strategy and panel tables, on a rich console."""
    from rich.table import Table

    dataset = summary["dataset"]
    table = Table(
        title=f"{dataset.get('name')} · {dataset['items']} items · baseline {summary['baseline']}",
        title_justify="left",
        pad_edge=False,
    )
    everything = [*summary["strategies"].values(), *summary["members"].values()]
    priced = any(s["cost_per_item_usd"] for s in everything)
    keep = [i for i, c in enumerate(TERMINAL_COLUMNS) if priced or c != "$/item"]
    for i in keep:
        table.add_column(TERMINAL_COLUMNS[i])
    for name, stats in summary["strategies"].items():
        row = terminal_row(name, stats)
        table.add_row(*(row[i] for i in keep))
    panel = summary.get("panel")
    if panel:
        table.add_section()
        for name, stats in summary["members"].items():
            row = terminal_row(f"{MEMBER_PREFIX}{name}", stats)
            table.add_row(*(row[i] for i in keep))
    from orchestrator.cli.tables import fitted

    console.print(fitted(console, table))
    if panel:
        best = panel["best_single"]
        console.print(
            f"best single: {best['member']} {pct(best['accuracy'])}"
            f" · oracle {pct(panel['oracle']['accuracy'])}"
            f" · independent-majority forecast {pct(panel['majority_if_independent'])}"
        )
        pairs = [
            f"{a}~{b} {num(panel['error_correlation'][i][j], 2)}"
            for i, a in enumerate(panel["members"])
            for j, b in enumerate(panel["members"])
            if j > i
        ]
        console.print("error correlation: " + ", ".join(pairs))
    for name, stats in summary["strategies"].items():
        cal, sel = stats.get("calibration") or {}, stats.get("selective") or {}
        line = f"{name}: ECE {num(cal.get('ece'), 3)} · Brier {num(cal.get('brier'), 3)}"
        line += f" · AURC {num(cal.get('aurc'), 3)}"
        if sel.get("wrong") is not None:
            line += (
                f" · wrong/item at {pct(sel.get('reached', sel['coverage']))} coverage {pct(sel['wrong'])}"
                f" vs {sel['reference']} {pct(sel['reference_wrong'])}"
                f" ({100 * sel['diff']:+.1f} pts {ci(sel['diff_ci95'])})"
            )
        console.print(line, highlight=False)
    for warning in summary.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    run = summary["run"]
    console.print(
        f"{run['new_calls']} new model calls, {run['cached_calls']} from the cache, "
        f"{run['replay_misses']} replay misses, {run['elapsed_s']:.1f} s"
    )


# -- comparing two runs ------------------------------------------------------------------


def compare(first: Path, second: Path) -> dict[str, Any]:
    """Per strategy in both runs: accuracies, the difference, and McNemar on the items both ran."""
    a, b = load_summary(first), load_summary(second)
    rows_a = _by_key(_read_rows(first / RESULTS))
    rows_b = _by_key(_read_rows(second / RESULTS))
    names = [n for n in [*a["strategies"], *a["members"]] if n in b["strategies"] or n in b["members"]]
    out: dict[str, Any] = {"first": str(first), "second": str(second), "strategies": {}}
    for name in names:
        sa = a["strategies"].get(name) or a["members"][name]
        sb = b["strategies"].get(name) or b["members"][name]
        key = name if name in a["strategies"] else MEMBER_PREFIX + name
        common = sorted(set(rows_a.get(key, {})) & set(rows_b.get(key, {})))
        only_a = sum(1 for i in common if _right(rows_a[key][i]) and not _right(rows_b[key][i]))
        only_b = sum(1 for i in common if _right(rows_b[key][i]) and not _right(rows_a[key][i]))
        out["strategies"][name] = {
            "first": sa,
            "second": sb,
            "diff": (sb["accuracy"] or 0) - (sa["accuracy"] or 0),
            "common_items": len(common),
            "changed_items": only_a + only_b,
            "p_value": mcnemar(only_a, only_b),
            "identical": sa == sb,
        }
    out["identical"] = (
        bool(names)
        and all(s["identical"] for s in out["strategies"].values())
        and (a.get("panel") == b.get("panel"))
    )
    return out


def _by_key(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["strategy"], {})[row["item"]] = row
    return grouped


def _right(row: Mapping[str, Any]) -> bool:
    return row["status"] == "correct"
