"""Local models run by llama.cpp in this process, fully offline once pulled.

``model`` is a catalog name (see :mod:`providers.local.catalog`) or a path to a
``.gguf`` file::

    [members.smollm2]
    provider = "local"
    model = "smollm2-135m-instruct"
    options = { n_parallel = 4, n_ctx = 8192, threads = 1 }   # all optional

On first use a missing catalog model is pulled into ``cache_dir/models``
(unless offline: ``ProviderContext.offline`` or ``SHOAL_OFFLINE=1``), then one
llama.cpp server per model file is started for the whole orchestrator (shared
through ``context.shared``, stopped by ``context.exit_stack``), and calls go to
it through :class:`~providers.openai_compat.OpenAICompatProvider`. The
catalog's prompt defaults (a system prompt for chat models; completion style, a
few-shot template and ``stop = ["\\n"]`` for base models) apply unless the
member's ``options`` or ``params`` say otherwise. The server settings of the
first member to start a model win.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.errors import BadRequestError, ConfigError, ModelError
from orchestrator.logs import get_logger
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Completion, Member
from providers.local.catalog import CATALOG, CatalogModel, lookup
from providers.local.pip_index import redact
from providers.local.server import LlamaServer, ServerSettings
from providers.local.store import ModelStatus, ModelStore, PullProgress
from providers.openai_compat import OpenAICompatProvider

__all__ = ["LocalOptions", "LocalProvider", "ModelStatus", "ModelStore", "PullProgress"]

log = get_logger("shoal.providers.local")


class LocalOptions(BaseModel):
    """The member ``options`` the local provider understands; unset prompt keys take catalog defaults."""

    model_config = ConfigDict(extra="forbid")

    prompt_style: Literal["chat", "completion"] | None = None
    prompt_template: str | None = None
    system_prompt: str | None = None
    n_ctx: int = Field(default=8192, ge=256)
    n_parallel: int = Field(default=4, ge=1)
    threads: int | None = Field(default=None, ge=-1)
    """CPU threads per server; unset: half the usable cores; -1: llama.cpp's choice."""

    @field_validator("threads")
    @classmethod
    def _no_zero_threads(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("threads must be -1 (llama.cpp's choice) or at least 1")
        return value


class LocalProvider:
    """A member answered by a GGUF model on a llama.cpp server in this process."""

    Options = LocalOptions

    def __init__(self, member: Member, context: ProviderContext) -> None:
        self.member = member
        self._context = context
        try:
            self.options = LocalOptions.model_validate(member.options)
        except ValidationError as exc:
            raise ConfigError(str(exc), key=f"members.{member.name}.options") from exc
        self.entry: CatalogModel | None = None if _is_path(member.model) else lookup(member.model, CATALOG)
        self._delegate: OpenAICompatProvider | None = None
        self.max_n = self.options.n_parallel  # llama.cpp's server answers n <= its slots in one request

    @classmethod
    def model_store(cls, cache_dir: Path) -> ModelStore:
        return ModelStore(cache_dir)

    async def complete(self, call: Call) -> Completion:
        delegate = await self._ready()
        try:
            return await delegate.complete(self._prepare(call))
        except BadRequestError as exc:
            raise self._over_context(exc) from exc

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        delegate = await self._ready()
        try:
            async for delta in delegate.stream(self._prepare(call)):
                yield delta
        except BadRequestError as exc:
            raise self._over_context(exc) from exc

    def _over_context(self, exc: BadRequestError) -> BadRequestError:
        """llama.cpp's context-size refusal as what to change, naming the member and ``n_ctx``."""
        text = str(exc)
        counted = re.search(r"\((\d+) tokens\) exceeds the available context size", text)
        if counted is None and "exceed_context_size" not in text:
            return exc
        o = self.options
        prompt = f"the prompt ({counted[1]} tokens)" if counted else "the prompt"
        return BadRequestError(
            f"{prompt} is over {self.member.name}'s context of {o.n_ctx // o.n_parallel} tokens per request"
            f" (n_ctx = {o.n_ctx} shared by n_parallel = {o.n_parallel}); shorten it, or raise n_ctx"
            f" (or lower n_parallel) in [members.{self.member.name}] options",
            provider="local",
            model=self.member.model,
            status=exc.status,
        )

    async def aclose(self) -> None:
        """Nothing of its own: the server belongs to the context's exit stack."""
        if self._delegate is not None:
            await self._delegate.aclose()

    async def _ready(self) -> OpenAICompatProvider:
        """The provider bound to this model's server; the first call pulls and starts what is missing."""
        if self._delegate is None:
            async with self._lock(f"model:{self.member.model}"):  # pull a model once
                path = await self._model_path()
            async with self._lock(f"server:{path}"):  # start a model file once
                server = await self._server(path)
            if self._delegate is None:
                self._delegate = OpenAICompatProvider(self._wire_member(f"{server.url}/v1"), self._context)
        return self._delegate

    def _lock(self, what: str) -> asyncio.Lock:
        lock: asyncio.Lock = self._context.shared.setdefault(f"local:lock:{what}", asyncio.Lock())
        return lock

    async def _model_path(self) -> Path:
        if self.entry is None:
            return await asyncio.to_thread(_model_file, self.member)
        name = self.entry.name
        store = ModelStore(self._context.cache_dir)
        found = await asyncio.to_thread(store.path, name)
        if found is not None:
            return found
        if self._context.offline or os.environ.get("SHOAL_OFFLINE", "").lower() in {"1", "true", "yes"}:
            raise ModelError(
                f"local model {name!r} is not in {store.models_dir} and Shoal is offline; "
                f"run `shoal models pull {name}` first"
            )
        log.info("local_model_pull", model=name, index=redact(store.index_url))
        return await asyncio.to_thread(store.pull, name)

    async def _server(self, path: Path) -> LlamaServer:
        key = f"local:server:{path}"
        server: LlamaServer | None = self._context.shared.get(key)
        if server is None:
            name = self.entry.name if self.entry else None
            fix = (
                f"If the file is damaged, run `shoal models pull --force {name}`"
                if name
                else "Check that it is a GGUF model this llama.cpp supports"
            )
            settings = ServerSettings(
                n_ctx=self.options.n_ctx,
                n_parallel=self.options.n_parallel,
                threads=self.options.threads,
                alias=name or path.stem,
            )
            server = LlamaServer(path, settings, fix=fix)
            if self._context.progress is not None:
                self._context.progress(f"loading model {name or path.name}")
            await server.start()
            self._context.exit_stack.push_async_callback(server.aclose)
            self._context.shared[key] = server
        return server

    def _wire_member(self, api_base: str) -> Member:
        """The member as the OpenAI-compatible provider sees it: bound to the local server."""
        prompt = self.entry.prompt if self.entry else None
        style = self.options.prompt_style or (prompt.style if prompt else "chat")
        template = self.options.prompt_template or (prompt.template if prompt else None)
        options: dict[str, Any] = {"prompt_style": style}
        if template is not None:
            options["prompt_template"] = template
        return self.member.model_copy(update={"api_base": api_base, "api_key_env": None, "options": options})

    def _prepare(self, call: Call) -> Call:
        """``call`` with the catalog's system prompt and params filled in where it has none."""
        prompt = self.entry.prompt if self.entry else None
        defaults: dict[str, Any] = {"stop": list(prompt.stop)} if prompt and prompt.stop else {}
        params = {**defaults, **self.member.params, **call.params}
        system = self.options.system_prompt
        if system is None and prompt is not None:
            system = prompt.system
        messages = call.messages
        if system and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": system}, *messages]
        return call.model_copy(update={"messages": messages, "params": params})


def _is_path(model: str) -> bool:
    return model.endswith(".gguf") or "/" in model or os.sep in model or model.startswith("~")


def _model_file(member: Member) -> Path:
    path = Path(member.model).expanduser()
    if not path.is_file():
        raise ModelError(f"member {member.name!r}: model file {path} does not exist")
    return path.resolve()
