"""``shoal bench``: benchmark strategies on a dataset, list datasets, compare runs.

The run itself (progress bar, outputs, summary) is :mod:`orchestrator.bench.console`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.common import ConfigOption, _fail, _guarded
from orchestrator.cli.models import _ensure_local_models

__all__ = ["register"]

bench_app = typer.Typer(
    help="Benchmark strategies on a dataset: accuracy with CIs, paired tests, cost, replay, plots.",
)


def register(app: typer.Typer) -> None:
    bench_app.callback(invoke_without_command=True)(bench)
    bench_app.command("datasets")(bench_datasets)
    bench_app.command("compare")(bench_compare)
    app.add_typer(bench_app, name="bench")


def bench(
    ctx: typer.Context,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="Built-in dataset name (see `bench datasets`) or FILE.jsonl."),
    ] = None,
    strategies: Annotated[
        str | None,
        typer.Option("--strategies", "-s", help="Comma-separated strategy names; the first is the baseline."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory (results, summary, report, plots).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Use the first N items.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", help="Shuffle the items with this seed before --limit.")
    ] = None,
    config: ConfigOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-k", min=1, help="Items in flight at once.")
    ] = 4,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Strategy the others are tested against (default: the first)."),
    ] = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Answer only from recorded calls; make no model call.")
    ] = False,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Call cache (default: OUT/calls.sqlite).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard OUT's results (not its call cache).")
    ] = False,
    members: Annotated[
        bool, typer.Option("--members/--no-members", help="Also score each member alone.")
    ] = True,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the PNG plots.")] = True,
    simulate: Annotated[
        str | None,
        typer.Option(
            "--simulate", help="Forecast with simulated members instead of --config: n=3,p=0.7,rho=0.2"
        ),
    ] = None,
    code_timeout: Annotated[
        float, typer.Option("--code-timeout", min=0.1, help="Seconds per code test run.")
    ] = 10.0,
    emit_routes: Annotated[
        Path | None,
        typer.Option(
            "--emit-routes", help="Write a [routes] table: per category, the cheapest good strategy."
        ),
    ] = None,
    route_margin: Annotated[
        float,
        typer.Option(
            "--route-margin", min=0, max=1, help="Accuracy a cheaper route may give up (0.02 = 2 pts)."
        ),
    ] = 0.02,
    emit_thresholds: Annotated[
        Path | None,
        typer.Option(
            "--emit-thresholds",
            help="Write per strategy the abstain_below meeting --max-wrong with the most coverage (TOML).",
        ),
    ] = None,
    max_wrong: Annotated[
        float,
        typer.Option(
            "--max-wrong", min=0.001, max=1, help="Target share of wrong answers among those given (0.05)."
        ),
    ] = 0.05,
    emit_weights: Annotated[
        Path | None,
        typer.Option("--emit-weights", help="Write learned member weights per category (TOML)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each call to stderr.")] = False,
) -> None:
    """Benchmark strategies on a dataset: `shoal bench -d gsm8k -n 50 -s single,vote -o runs/gsm8k`."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [
        flag
        for flag, value in (("--dataset", dataset), ("--strategies", strategies), ("--out", out))
        if not value
    ]
    if missing:
        _fail(
            f"missing {', '.join(missing)}; e.g. shoal bench --dataset gsm8k --limit 50"
            " --strategies single,vote --out runs/gsm8k",
            2,
        )
    from orchestrator.bench.console import BenchRequest, run_bench
    from orchestrator.logs import configure_logging

    configure_logging("info" if verbose else "warning")
    request = BenchRequest(
        dataset=str(dataset),
        strategies=[s.strip() for s in str(strategies).split(",") if s.strip()],
        out=Path(str(out)),
        limit=limit,
        sample=sample,
        config=config,
        concurrency=concurrency,
        baseline=baseline,
        replay=replay,
        cache=cache,
        fresh=fresh,
        members=members,
        plots=plots,
        simulate=simulate,
        code_timeout_s=code_timeout,
        emit_routes=emit_routes,
        route_margin=route_margin,
        emit_thresholds=emit_thresholds,
        max_wrong=max_wrong,
        emit_weights=emit_weights,
    )
    code = _guarded(run_bench, request, ensure_models=_ensure_local_models)
    if code:
        raise typer.Exit(code)


def bench_datasets() -> None:
    """List the built-in datasets: size, licence, whether installed, and how to install."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.bench.sources import DATASETS

    table = Table()
    for column in ("name", "items", "answers", "licence", "installed", "install", "description"):
        table.add_column(column)
    for spec in DATASETS.values():
        table.add_row(
            spec.name,
            str(spec.size),
            spec.answer_type,
            spec.licence,
            "yes" if spec.installed() else "no",
            spec.install,
            spec.title,
        )
    from orchestrator.cli.tables import fitted

    console = Console()
    console.print(fitted(console, table))
    console.print(
        "Your own data: --dataset FILE.jsonl"
        " (id, question or messages, answer, answer_type, choices, tests).",
        markup=False,
        highlight=False,
    )


def bench_compare(
    first: Annotated[Path, typer.Argument(help="A finished bench --out directory.")],
    second: Annotated[Path, typer.Argument(help="Another one.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare two benchmark runs strategy by strategy (paired on their common items)."""
    from orchestrator.bench.console import print_comparison
    from orchestrator.bench.report import compare

    result = _guarded(compare, first, second)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        print_comparison(result)
