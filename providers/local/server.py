"""A llama.cpp server for one GGUF file, in this process, on loopback.

``xllamacpp.Server`` starts llama.cpp's OpenAI-compatible HTTP server on an
ephemeral port; it has no close method and stops when the object is garbage
collected, so :meth:`LlamaServer.aclose` drops the last reference and collects
in a worker thread. Loading blocks, so it runs in a worker thread too.

>>> server = LlamaServer(Path("model.gguf"), ServerSettings(n_parallel=2))
>>> server.url is None
True
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from orchestrator.errors import ModelStartError
from orchestrator.logs import get_logger

__all__ = ["LlamaServer", "ServerSettings", "default_threads"]

log = get_logger("shoal.providers.local")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How to run the server. ``n_ctx`` is the total context, shared by ``n_parallel`` slots."""

    n_ctx: int = 8192
    n_parallel: int = 4
    threads: int | None = None
    """CPU threads for prompt and generation; ``None``: half the usable cores; -1: llama.cpp's choice.

    Not all cores by default: llama.cpp's worker threads spin-wait, and with two
    servers (a panel of two models) or any other busy process on all cores,
    generation was measured to fall from ~90 to 1-5 tokens/s on 2 cores, while
    one thread per server stayed at ~45.
    """
    alias: str | None = None
    """The model name the server reports in its responses."""
    health_timeout_s: float = 30.0


class LlamaServer:
    """One running llama.cpp server; ``url`` is its base URL once started."""

    def __init__(self, model_path: Path, settings: ServerSettings | None = None, *, fix: str = "") -> None:
        self.model_path = model_path
        self.settings = settings or ServerSettings()
        self.url: str | None = None
        self._fix = fix
        self._server: Any = None

    async def start(self) -> str:
        started = time.perf_counter()
        try:
            self._server = await asyncio.to_thread(_create, self.model_path, self.settings)
        except ImportError as exc:
            raise ModelStartError(
                "local models need xllamacpp: pip install 'shoal[local]' (or pip install xllamacpp)"
            ) from exc
        except RuntimeError as exc:
            raise self._failed(str(exc)) from exc
        self.url = str(self._server.listening_address).rstrip("/")
        try:
            await self._wait_healthy()
        except BaseException:
            await self.aclose()
            raise
        log.info(
            "local_server_started",
            model=str(self.model_path),
            url=self.url,
            seconds=round(time.perf_counter() - started, 3),
        )
        return self.url

    async def aclose(self) -> None:
        if self._server is None:
            return
        holder = [self._server]
        self._server = None
        await asyncio.to_thread(_release, holder)
        log.info("local_server_stopped", model=str(self.model_path), url=self.url)
        self.url = None

    async def __aenter__(self) -> LlamaServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.health_timeout_s
        last = "no answer"
        async with httpx.AsyncClient(timeout=5.0) as client:
            while time.monotonic() < deadline:
                try:
                    response = await client.get(f"{self.url}/health")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise self._failed(f"not healthy after {self.settings.health_timeout_s:.0f} s ({last})")

    def _failed(self, why: str) -> ModelStartError:
        fix = f" {self._fix}" if self._fix else ""
        return ModelStartError(f"llama.cpp could not load {self.model_path}: {why}.{fix}")


def _create(model_path: Path, settings: ServerSettings) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = settings.n_ctx
    params.n_parallel = settings.n_parallel
    threads = settings.threads if settings.threads is not None else default_threads()
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    if settings.alias:
        params.model_alias = {settings.alias}
    return xllamacpp.Server(params)


def default_threads() -> int:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    return max(1, usable // 2)


def _release(holder: list[Any]) -> None:
    holder.clear()
    gc.collect()
