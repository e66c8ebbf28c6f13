"""``shoal ask``: one question to the panel, the verdict printed as text or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli.common import ConfigOption, _fail, _guarded, _load
from orchestrator.cli.models import _ensure_local_models

if TYPE_CHECKING:
    from orchestrator.types import Verdict

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command()(ask)


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
