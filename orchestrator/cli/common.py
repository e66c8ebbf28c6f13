"""What every ``shoal`` command shares: the --config option and turning errors into exit codes.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 local model, 4 providers failed
(quorum), 5 policy, 6 budget, 130 interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from orchestrator.config import ShoalConfig

__all__ = ["ConfigOption", "_exit_code", "_fail", "_guarded", "_load", "_print"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config (default: $SHOAL_CONFIG, ./shoal.toml, built-in)"),
]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"shoal: error: {message}", err=True)
    raise typer.Exit(code)


def _exit_code(exc: Exception) -> int:
    from orchestrator import errors

    for kind, code in (
        (errors.UsageError, 2),
        (errors.ModelError, 3),
        (errors.QuorumError, 4),
        (errors.ProviderError, 4),
        (errors.PolicyError, 5),
        (errors.BudgetExceeded, 6),
    ):
        if isinstance(exc, kind):
            return code
    return 1


def _guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from orchestrator.errors import ShoalError

    try:
        return fn(*args, **kwargs)
    except ShoalError as exc:
        _fail(str(exc), _exit_code(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _load(config: Path | None) -> ShoalConfig:
    from orchestrator.config import load_config

    return load_config(config)


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            typer.echo(f"{key}:")
            for inner, scores in value.items():
                typer.echo(f"  {inner}: {json.dumps(scores, ensure_ascii=False)}")
        else:
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
            typer.echo(f"{key}: {shown}")
