"""The terminal side of ``shoal bench``: load, run with a live progress bar, write, print."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError

__all__ = ["BenchRequest", "parse_simulate", "print_comparison", "run_bench"]


@dataclass
class BenchRequest:
    dataset: str
    strategies: list[str]
    out: Path
    limit: int | None = None
    sample: int | None = None
    config: Path | None = None
    concurrency: int = 4
    baseline: str | None = None
    replay: bool = False
    cache: Path | None = None
    fresh: bool = False
    members: bool = True
    plots: bool = True
    simulate: str | None = None
    code_timeout_s: float = 10.0
    emit_routes: Path | None = None
    route_margin: float = 0.02
    emit_thresholds: Path | None = None
    max_wrong: float = 0.05
    emit_weights: Path | None = None


def parse_simulate(spec: str) -> dict[str, Any]:
    """``"n=3,p=0.7,rho=0.2"`` -> ``{"n": 3, "p": 0.7, "rho": 0.2}`` (n and p required).

    >>> parse_simulate("n=5, p=0.6")
    {'n': 5, 'p': 0.6, 'rho': 0.0}
    """
    values: dict[str, Any] = {"rho": 0.0}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = re.fullmatch(r"(n|p|rho|seed)\s*=\s*([-+0-9.eE]+)", part)
        if match is None:
            raise UsageError(f"--simulate: cannot read {part!r}; write n=3,p=0.7,rho=0.2")
        key, raw = match.groups()
        try:
            values[key] = int(raw) if key in ("n", "seed") else float(raw)
        except ValueError:
            raise UsageError(f"--simulate: {key} must be a number, got {raw!r}") from None
    if "n" not in values or "p" not in values:
        raise UsageError("--simulate needs n and p, e.g. n=3,p=0.7,rho=0.2")
    if values["n"] < 1 or not 0 <= values["p"] <= 1 or not 0 <= values["rho"] <= 1:
        raise UsageError("--simulate: n must be at least 1, p and rho between 0 and 1")
    return values


def _config(request: BenchRequest) -> Any:
    from orchestrator.config import load_config, parse_config

    if request.simulate is None:
        return load_config(request.config)
    if request.config is not None:
        raise UsageError("pass either --config or --simulate, not both")
    from orchestrator.bench.simulate import simulated_panel

    values = parse_simulate(request.simulate)
    toml = simulated_panel(values["n"], values["p"], values["rho"], seed=values.get("seed", 0))
    return parse_config(toml, source="--simulate")


def run_bench(request: BenchRequest, *, ensure_models: Callable[..., None] | None = None) -> int:
    """Run a benchmark end to end; returns the exit code (130 when interrupted)."""
    from rich.console import Console

    from orchestrator.bench.datasets import load_items, select
    from orchestrator.bench.report import build_summary, print_summary, write_outputs
    from orchestrator.bench.runner import BenchRunner, BenchSettings

    items, info = load_items(request.dataset)
    items = select(items, limit=request.limit, sample=request.sample)
    check_tuning_size(request, len(items))
    if request.sample is not None:
        info = {**info, "sample_seed": request.sample}
    config = _config(request)
    settings = BenchSettings(
        strategies=request.strategies,
        out=request.out,
        baseline=request.baseline,
        concurrency=request.concurrency,
        replay=request.replay,
        cache_path=request.cache,
        fresh=request.fresh,
        members=request.members,
        code_timeout_s=request.code_timeout_s,
    )
    runner = BenchRunner(config, items, info, settings)
    done = runner.prepare()
    if ensure_models is not None and not request.replay:
        ensure_models(config, quiet=False)
    err = Console(stderr=True)
    try:
        _run_with_progress(runner, done, err)
    except KeyboardInterrupt:
        outcome = runner.outcome(complete=False)
        write_outputs(request.out, build_summary(outcome, info), plots=False)
        err.print(
            f"interrupted: {len(outcome.rows)} of {runner.total} results saved in {request.out}; "
            "run the same command again to resume"
        )
        return 130
    outcome = runner.outcome(complete=True)
    summary = build_summary(outcome, info)
    try:
        written = write_outputs(request.out, summary, plots=request.plots)
    except ImportError:
        written = [request.out / "summary.json", request.out / "report.md", request.out / "report.html"]
        err.print(
            "plots skipped: they need matplotlib, from the bench extra"
            " (pip install -e '.[bench]' in a clone of Shoal, or pip install 'shoal[bench]')",
            markup=False,
            soft_wrap=True,  # one line, pasteable
        )
    except (
        ValueError,
        RuntimeError,
        OSError,
    ) as exc:  # the numbers are written; a figure is not worth a crash
        written = [request.out / "summary.json", request.out / "report.md", request.out / "report.html"]
        err.print(
            f"[yellow]plots failed ({type(exc).__name__}: {exc}); summary and report are written[/yellow]"
        )
    print_summary(summary, Console())
    if request.emit_routes is not None:
        written.append(_emit_routes(request, config, items, outcome))
    written += _emit_tuning(request, items, outcome)
    if outcome.replay_misses:
        err.print(
            f"[yellow]{outcome.replay_misses} calls were not in the cache; replay made no call and counted "
            "them as failures[/yellow]"
        )
    Console().print("wrote " + ", ".join(str(p) for p in [request.out / "results.jsonl", *written]))
    return 0


def check_tuning_size(request: BenchRequest, items: int) -> None:
    """Refuse, before any call, an --emit-* on a run with fewer items than it needs."""
    from orchestrator.bench.tuning import MIN_WEIGHT_ITEMS, needed_for_thresholds

    if request.emit_thresholds is not None and items < (need := needed_for_thresholds(request.max_wrong)):
        raise UsageError(
            f"--emit-thresholds --max-wrong {request.max_wrong:g} needs at least {need} items"
            f" (3 / max-wrong); this run has {items}: raise --limit or --max-wrong"
        )
    if request.emit_weights is not None and items < MIN_WEIGHT_ITEMS:
        raise UsageError(
            f"--emit-weights needs at least {MIN_WEIGHT_ITEMS} items; this run has {items}: raise --limit"
        )
    if request.emit_weights is not None and not request.members:
        raise UsageError("--emit-weights learns from each member alone; drop --no-members")


def _emit_tuning(request: BenchRequest, items: list[Any], outcome: Any) -> list[Path]:
    from orchestrator.bench.tuning import choose_thresholds, learn_weights, write_thresholds, write_weights

    source = f"{request.dataset}, {len(items)} items, run {request.out}"
    written: list[Path] = []
    if request.emit_thresholds is not None:
        chosen = choose_thresholds(outcome.rows, outcome.strategies, request.max_wrong)
        written.append(write_thresholds(request.emit_thresholds, chosen, request.max_wrong, source))
    if request.emit_weights is not None:
        written.append(
            write_weights(request.emit_weights, learn_weights(outcome.rows, outcome.members), source)
        )
    return written


def _emit_routes(request: BenchRequest, config: Any, items: list[Any], outcome: Any) -> Path:
    from orchestrator.bench.routes import choose_routes, write_routes
    from orchestrator.engine import Orchestrator
    from orchestrator.registry import Registry

    assert request.emit_routes is not None
    classifier = Orchestrator.classifier_for(config, Registry())
    choices = choose_routes(
        outcome.rows,
        items,
        outcome.strategies,
        lambda text: classifier.classify(text).category,
        margin=request.route_margin,
    )
    source = f"{request.dataset}, {len(items)} items"
    return write_routes(request.emit_routes, choices, margin=request.route_margin, source=source)


def _run_with_progress(runner: Any, done: int, console: Any) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    right: dict[str, int] = {}
    seen: dict[str, int] = {}
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("bench", total=runner.total, completed=done)

        def on_result(row: dict[str, Any]) -> None:
            name = row["strategy"]
            seen[name] = seen.get(name, 0) + 1
            right[name] = right.get(name, 0) + (row["status"] == "correct")
            shown = " · ".join(
                f"{s} {100 * right.get(s, 0) / seen[s]:.0f}%"
                for s in runner.settings.strategies
                if seen.get(s)
            )
            progress.update(task, advance=1, description=shown or "bench")

        asyncio.run(runner.run(on_result))


def print_comparison(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from orchestrator.bench.report import ci, p_value, pct

    table = Table(title=f"{result['first']}  vs  {result['second']}", title_justify="left")
    for column in (
        "strategy",
        "first",
        "second",
        "diff",
        "items in both",
        "changed",
        "McNemar p",
        "identical",
    ):
        table.add_column(column)
    for name, s in result["strategies"].items():
        table.add_row(
            name,
            f"{pct(s['first']['accuracy'])} {ci(s['first']['accuracy_ci95'])}",
            f"{pct(s['second']['accuracy'])} {ci(s['second']['accuracy_ci95'])}",
            f"{100 * s['diff']:+.1f} pts",
            str(s["common_items"]),
            str(s["changed_items"]),
            p_value(s["p_value"]),
            "yes" if s["identical"] else "no",
        )
    from orchestrator.cli.tables import fitted

    console = Console()
    console.print(fitted(console, table))
    console.print("the two runs' statistics are identical" if result["identical"] else "the runs differ")
