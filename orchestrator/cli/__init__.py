"""``shoal``: the command line. Errors end here as one line on stderr and a non-zero exit.

One module per command group: :mod:`.ask`, :mod:`.serve`, :mod:`.config`, :mod:`.models`,
:mod:`.bench`, :mod:`.route`, :mod:`.detect`, :mod:`.members`; :mod:`.common` holds what
they share (the --config option, errors to exit codes). Heavy imports stay inside the commands.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 local model, 4 providers failed
(quorum), 5 policy, 6 budget, 130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from orchestrator.cli import ask, bench, config, detect, members, models, route, serve

__all__ = ["app", "main"]

app = typer.Typer(
    name="shoal",
    help="Ask a panel of models, cross-check their answers, and see how sure they are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help and errors: no boxes, one line per mistake (see main)
)
for _group in (ask, serve, config, models, bench, route, detect, members):
    _group.register(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"shoal {version('shoal')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Ask a panel of models, cross-check their answers, and see how sure they are."""


def _metavars(command: Any) -> None:
    """Placeholders a reader recognises (``--config PATH``, ``--limit N``) instead of ``<path>``."""
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        desc = getattr(param, "type_descriptor", None)
        annotation = getattr(desc, "annotation", None)
        if getattr(desc, "is_path", False):
            param.metavar = "PATH"
        elif annotation is int:
            param.metavar = "N"
        elif annotation is float:
            param.metavar = "X"
        else:
            param.metavar = (param.name or "value").upper()
    for sub in getattr(command, "commands", {}).values():
        _metavars(sub)


def main() -> None:
    command = typer.main.get_command(app)
    _metavars(command)
    try:
        code: Any = command.main(prog_name="shoal", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: one line, not typer's usage block
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and exc.format_message() == ctx.get_help():  # `shoal` alone: the help
            typer.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        where = f"; see {ctx.command_path} --help" if ctx is not None else ""
        typer.echo(f"shoal: error: {exc.format_message().rstrip('.')}{where}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("shoal: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug, not a usage mistake: one line, the traceback on request
        import os

        if os.environ.get("SHOAL_LOG_LEVEL", "").lower() == "debug":
            raise
        typer.echo(
            f"shoal: error: unexpected {type(exc).__name__}: {exc}"
            " (SHOAL_LOG_LEVEL=debug shows the traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
