"""Running the proxy: bind, print the banner, serve on uvicorn, drain on SIGTERM.

SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in flight
finish for up to ``[server] shutdown_grace_s``, cancels what is left, closes the
members' clients and exits.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

import uvicorn

from orchestrator.config import ShoalConfig
from orchestrator.errors import UsageError
from orchestrator.proxy.app import Proxy
from orchestrator.proxy.auth import ApiKeys, check_bind
from orchestrator.proxy.limits import LimitedHttp
from orchestrator.proxy.metrics import MULTIPROC_ENV

__all__ = ["banner", "serve"]

_BACKSTOP_S = 1.0
_UVICORN_LEVELS = {"debug": "debug", "info": "info", "warning": "warning", "error": "error"}


def serve(
    config: ShoalConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    insecure_no_auth: bool = False,
    log_level: str = "warning",
    out: TextIO = sys.stdout,
) -> None:
    """Serve until SIGTERM/SIGINT. ``port=0`` picks a free port (the banner says which)."""
    keys = ApiKeys([k.get_secret_value() for k in config.server.api_keys])
    check_bind(host, keys, insecure_no_auth=insecure_no_auth)
    if workers < 1:
        raise UsageError(f"--workers {workers}: pass 1 or more")
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    proxy = Proxy(config) if workers == 1 else None
    out.write(banner(config, host, bound, keys, workers, proxy))
    out.flush()
    LimitedHttp.configure(config.server)
    options = {
        # The proxy answers what is left at shutdown_grace_s itself (503, or an error event);
        # uvicorn's own cancellation is the backstop a moment later.
        "timeout_graceful_shutdown": config.server.shutdown_grace_s + _BACKSTOP_S,
        "log_level": _UVICORN_LEVELS.get(log_level, "warning"),
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        "log_config": None,
        "http": LimitedHttp,
    }
    if proxy is not None:
        server = _Server(uvicorn.Config(proxy.app(), **options), proxy)  # type: ignore[arg-type]
        server.run(sockets=[sock])
        return
    # Several worker processes: each builds its own app (and metrics) from the environment.
    sock.close()
    if config.source != "<built-in default>":
        os.environ["SHOAL_CONFIG"] = config.source
    os.environ["SHOAL_SERVE_LOG_LEVEL"] = log_level
    with _shared_metrics():
        uvicorn.run(
            "orchestrator.proxy.app:app_from_env",
            factory=True,
            host=host,
            port=bound,
            workers=workers,
            **options,  # type: ignore[arg-type]
        )


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """One directory where every worker writes its metrics, so ``/metrics`` reports the whole
    server; a fresh temporary one, removed at exit (unless ``PROMETHEUS_MULTIPROC_DIR`` names one)."""
    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="shoal-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the proxy when shutdown begins (so it can drain on time)."""

    def __init__(self, config: uvicorn.Config, proxy: Proxy) -> None:
        super().__init__(config)
        self._proxy = proxy

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._proxy.drain(self.config.timeout_graceful_shutdown - _BACKSTOP_S)  # type: ignore[operator]
        await super().shutdown(sockets)


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: a port is 0-65535 (0 picks a free one)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(_bind_problem(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    """Why ``host:port`` cannot be listened on, and which flag fixes it."""
    where = f"cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{where}: --host {host} is not an address of this machine ({exc.strerror});"
            " use 127.0.0.1, 0.0.0.0 or one of its own addresses"
        )
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges); pick a --port above 1023"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use; pick another --port (0 picks a free one)"
    return f"{where} ({exc.strerror}); check --host and --port"


def banner(
    config: ShoalConfig, host: str, port: int, keys: ApiKeys, workers: int, proxy: Proxy | None
) -> str:
    shown = f"[{host}]" if ":" in host else host
    auth = f"on ({len(keys)} key{'s' if len(keys) != 1 else ''})" if keys.enabled else "OFF"
    ids = proxy.catalog.ids() if proxy is not None else _ids(config)
    return (
        f"shoal serve: http://{shown}:{port}/v1\n"
        f"  models: {', '.join(ids)}\n"
        f"  auth: {auth} · config: {config.source} · workers: {workers}\n"
    )


def _ids(config: ShoalConfig) -> list[str]:
    from orchestrator.proxy.catalog import Catalog

    return Catalog.of(config).ids()
