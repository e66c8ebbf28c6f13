"""``shoal serve``: the OpenAI-compatible proxy over the panel."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.common import ConfigOption, _guarded, _load
from orchestrator.cli.models import _ensure_local_models

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0 picks a free one).")
    ] = 8000,
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
