"""``shoal ask``: one question to the panel, the verdict printed as text or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.common import ConfigOption, _fail, _guarded, _load
from orchestrator.cli.models import _ensure_local_models
from orchestrator.cli.tables import fitted, shorten

if TYPE_CHECKING:
    from orchestrator.types import Candidate, Verdict

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command()(ask)


def ask(
    question: Annotated[
        str | None, typer.Argument(help="The question; - (or none, with stdin piped) reads it from stdin.")
    ] = None,
    config: ConfigOption = None,
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="Strategy name or kind.")] = None,
    team: Annotated[str | None, typer.Option("--team", "-t", help="Team to ask.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Name the config used; log each call to stderr.")
    ] = False,
    sensitivity: Annotated[
        str | None, typer.Option("--sensitivity", help="e.g. confidential: only members its policy allows.")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option("--max-cost-usd", min=0, help="Fail rather than spend more.")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Fail rather than call more.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", envvar="SHOAL_URL", help="Ask a running `shoal serve` (its models stay loaded)."
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="SHOAL_API_KEY", help="Key for --url.")
    ] = None,
) -> None:
    """Ask the panel a question and print the verdict."""
    text = _question(question)
    tags = {"sensitivity": sensitivity, "max_cost_usd": max_cost_usd, "max_calls": max_calls}
    say = _progress_line if sys.stderr.isatty() else None
    if url:
        if team or config:
            _fail(f"--url asks the server's own panel: drop {'--team' if team else '--config'}", 2)
        from orchestrator.cli.remote import ask_server

        if verbose or say:
            typer.echo(f"shoal: asking {url}", err=True)
        verdict = _guarded(ask_server, url, api_key, text, strategy=strategy, tags=tags)
    else:
        verdict = _ask_here(text, config, strategy, team, tags, verbose=verbose, quiet=as_json, say=say)
    if as_json:
        typer.echo(json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False))
    else:
        _print_verdict(verdict)


def _question(question: str | None) -> str:
    """The argument, or stdin when it is ``-`` or missing with stdin piped."""
    if question is None and sys.stdin.isatty():
        _fail('no question; pass one (shoal ask "What is 6 x 7?"), or - to read it from stdin', 2)
    text = sys.stdin.read() if question in (None, "-") else str(question)
    if not text.strip():
        where = "stdin was empty" if question in (None, "-") else "the question is empty"
        _fail(f'{where}; pass a question, e.g. shoal ask "What is 6 x 7?"', 2)
    return text


def _ask_here(
    text: str,
    config: Path | None,
    strategy: str | None,
    team: str | None,
    tags: dict[str, Any],
    *,
    verbose: bool,
    quiet: bool,
    say: Callable[[str], None] | None,
) -> Verdict:
    cfg = _guarded(_load, config)
    from orchestrator.logs import configure_logging

    configure_logging("info" if verbose else cfg.defaults.log_level)
    if verbose:
        from orchestrator.config import config_choice

        typer.echo(f"shoal: config {cfg.source} ({config_choice(config)[1]})", err=True)
    _guarded(_ensure_local_models, cfg, quiet=quiet)
    from orchestrator.engine import Orchestrator

    on_call = (lambda c: say(_call_line(c))) if say else None
    orch = Orchestrator(cfg, on_call=on_call, on_progress=say)
    verdict: Verdict = _guarded(orch.run_sync, text, strategy=strategy, team=team, tags=tags)
    return verdict


def _progress_line(line: str) -> None:
    sys.stderr.write(f"shoal: {line}\n")
    sys.stderr.flush()


def _call_line(c: Candidate) -> str:
    who = c.member if c.role == "answer" else f"{c.member} ({c.role})"
    if c.error is not None:
        return f"{who} failed in {c.latency_s:.2f} s ({c.error.type})"
    return f"{who} answered in {c.latency_s:.2f} s"


def _print_verdict(verdict: Verdict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(verdict.answer, markup=False, highlight=False)
    status = "abstained" if verdict.abstained else "answered"
    console.print(
        f"[bold]confidence[/bold] {verdict.confidence:.2f} ({status}) · strategy {verdict.strategy}"
        f" · route {verdict.route.category if verdict.route else '-'}"
        f" · {verdict.calls} call{'s' if verdict.calls != 1 else ''}"
        f" · {verdict.usage.total_tokens} token{'s' if verdict.usage.total_tokens != 1 else ''}"
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
        table.add_column(column)
    for c in verdict.candidates:
        text = c.text if c.error is None else f"{c.error.type}: {c.error.message}"
        name = c.member if c.role == "answer" else f"{c.member} ({c.role})"
        table.add_row(
            f"{name} for {c.replaces}" if c.replaces else name,
            c.model,
            shorten(text or "", 160),
            f"{c.latency_s:.2f} s",
            str(c.usage.total_tokens),
            f"${c.cost_usd:.6f}",
        )
    console.print(fitted(console, table))
