"""``shoal``: the command line. Errors end here as one line on stderr and a non-zero exit.

One module per command group: :mod:`.ask`, :mod:`.serve`, :mod:`.config`, :mod:`.models`,
:mod:`.bench`, :mod:`.route`, :mod:`.detect`, :mod:`.members`; :mod:`.common` holds what
they share (the --config option, errors to exit codes). Heavy imports stay inside the commands.

Exit codes: 0 ok, 1 unexpected, 2 usage/config, 3 local model, 4 providers failed
(quorum), 5 policy, 6 budget, 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from orchestrator.cli import ask, bench, config, detect, members, models, route, serve

__all__ = ["app", "main"]

app = typer.Typer(
    name="shoal",
    help="Ask a panel of models, cross-check their answers, and see how sure they are.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _group in (ask, serve, config, models, bench, route, detect, members):
    _group.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("shoal: interrupted", err=True)
        sys.exit(130)
