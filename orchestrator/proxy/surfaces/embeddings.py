"""``POST /v1/embeddings``: a member that embeds (``openai_compat``, ``litellm``, ``local_embedding``).

The inputs go through :meth:`Orchestrator.embed`, where the policy sees each
of them as a user message of an ordinary engine request (so the sensitivity
policy and the detector apply to them like to any other call) before any
member is asked. Only ``dimensions`` is passed on; ``encoding_format`` is
honoured here (``float`` or ``base64``); ``user`` is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from orchestrator.errors import BudgetExceeded, ProviderError, ShoalError
from orchestrator.proxy.errors import (
    ApiError,
    from_exception,
    from_shoal_error,
    from_validation_error,
    member_own_error,
)
from orchestrator.proxy.quota import SENSITIVITY_HEADER, with_header_sensitivity
from orchestrator.proxy.surfaces.base import JSON, dumps, object_body, openai_error
from orchestrator.types import Embeddings, Tags

if TYPE_CHECKING:
    from starlette.requests import Request as HttpRequest

    from orchestrator.proxy.app import Proxy

__all__ = ["EmbeddingsRequest", "EmbeddingsSurface", "embeddings_body"]

MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    dimensions: int | None = Field(default=None, ge=1)
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    shoal: Tags | None = None

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def embeddings_body(model: str, result: Embeddings, encoding: str) -> dict[str, Any]:
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": _encoded(vector, encoding)}
            for i, vector in enumerate(result.vectors)
        ],
        "usage": {"prompt_tokens": result.usage.prompt_tokens, "total_tokens": result.usage.prompt_tokens},
    }


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI sends them
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class EmbeddingsSurface:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def handle(self, request: HttpRequest) -> Response:
        from orchestrator.proxy.app import ClientGone, Exchange, bearer, read_json, until_disconnect

        exchange = Exchange(self.proxy)
        try:
            self.proxy.authorize(request)
            body = object_body(await read_json(request, self.proxy.settings))
            try:
                wire = EmbeddingsRequest.model_validate(body)
            except ValidationError as exc:
                raise from_validation_error(exc) from None
            self.proxy.admit(exchange)  # only once the body is in: a slow client holds no slot
            texts = wire.texts()
            if len(texts) > MAX_INPUTS or any(not t for t in texts):
                raise ApiError(
                    400, f"input: 1 to {MAX_INPUTS} non-empty strings", param="input", code="invalid_value"
                )
            target = self.proxy.target(wire.model)
            exchange.model, exchange.target = target.id, target
            if target.member is None:
                raise ApiError(
                    400,
                    f"{target.id} is a strategy: embeddings come from one member; use the name of a member "
                    "that embeds as the model (see GET /v1/models)",
                    param="model",
                    code="unsupported_parameter",
                )
            policy = self.proxy.orchestrator.gatekeeper.policy  # an unknown label is a 400
            tags = with_header_sensitivity(
                wire.shoal or Tags(), request.headers.get(SENSITIVITY_HEADER), policy
            )
            tags = await self.proxy.quota.begin(bearer(request), tags)
            params = {"dimensions": wire.dimensions} if wire.dimensions else {}
            work = self.proxy.orchestrator.embed(target.member, texts, params=params, tags=tags)
            try:
                result = await until_disconnect(request, work, self.proxy.expired)
            except BudgetExceeded as exc:
                raise self.proxy.quota.explain(exc, wire.shoal) from None
        except ApiError as exc:
            exchange.settle(exc.status)
            return openai_error(exc)
        except ClientGone:
            exchange.settle(499)
            return Response(status_code=499)
        except asyncio.CancelledError:
            exchange.settle(499)
            raise
        except TimeoutError:
            exchange.settle(504)
            return openai_error(ApiError(504, "the member did not embed in time", type="upstream_error"))
        except Exception as exc:  # a member's own 400 or 429 passes on; the rest as everywhere
            error = _member_error(exc) if isinstance(exc, ShoalError) else from_exception(exc)
            exchange.settle(error.status)
            return openai_error(error)
        exchange.settle(200)
        return Response(dumps(embeddings_body(target.id, result, wire.encoding_format)), media_type=JSON)


def _member_error(exc: ShoalError) -> ApiError:
    """The member's own 400 or 429 passed on (it was asked directly); the rest as everywhere."""
    passed = member_own_error(exc.kind, exc.retry_after, str(exc)) if isinstance(exc, ProviderError) else None
    return passed or from_shoal_error(exc)
