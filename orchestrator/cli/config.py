"""``shoal config``: check a configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.common import _guarded, _load

__all__ = ["register"]

config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    config_app.command("check")(config_check)
    app.add_typer(config_app, name="config")


def config_check(
    path: Annotated[
        Path | None, typer.Argument(help="Config file to check (default: the one shoal would use).")
    ] = None,
) -> None:
    """Validate a config file and summarise it (none given: the one shoal would use, and why)."""
    from orchestrator.config import config_choice

    cfg = _guarded(_load, path)
    why = "" if path else f" ({config_choice(None)[1]})"
    typer.echo(
        f"{cfg.source}{why}: ok · {len(cfg.members)} members · {len(cfg.teams)} teams"
        f" · {len(cfg.strategies)} strategies · {len(cfg.routes)} routes"
        f" · default strategy {cfg.defaults.strategy}"
    )
