"""The universal provider: any vendor litellm knows, by one model string.

litellm is heavy and, left alone, fetches its cost map over the network when
it is imported; a sovereign tool must not. So it is imported lazily by
:func:`_litellm` (never by ``import providers.litellm`` or ``import
orchestrator``) with its local cost map and quiet logging. Retries are the
engine's job: litellm's and the vendor SDK's are turned off.

A member using it::

    [members.claude]
    provider = "litellm"
    model = "anthropic/claude-sonnet-4-5"
    api_key_env = "ANTHROPIC_API_KEY"       # optional: litellm reads its own env vars too
    input_cost_per_token = 3e-6             # optional: else litellm's cost map
    output_cost_per_token = 15e-6
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from orchestrator.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from orchestrator.logs import get_logger
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Completion, Embeddings, Member, Usage
from providers._http import (
    DEFAULT_TIMEOUT_S,
    api_key_from_env,
    error_class_for_status,
    merge_tool_call_deltas,
    retry_after_from_headers,
    upstream_failure,
    usage_from,
)

__all__ = ["LiteLLMOptions", "LiteLLMProvider"]

PROVIDER = "litellm"
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "num_retries", "max_retries"})

# litellm exception class name -> ours; checked in order (subclasses first).
_ERRORS_BY_TYPE: tuple[tuple[str, type[ProviderError]], ...] = (
    ("Timeout", ProviderTimeout),
    ("RateLimitError", RateLimited),
    ("APIConnectionError", ProviderConnectionError),
    ("InternalServerError", ServerError),
    ("ServiceUnavailableError", ServerError),
    ("BadGatewayError", ServerError),
    ("AuthenticationError", AuthenticationError),
    ("PermissionDeniedError", AuthenticationError),
    ("ContextWindowExceededError", BadRequestError),
    ("BadRequestError", BadRequestError),
    ("NotFoundError", BadRequestError),
    ("UnprocessableEntityError", BadRequestError),
)

log = get_logger("shoal.providers")


def _litellm() -> ModuleType:
    """litellm, imported on first use with its network lookups and chatter turned off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    if hasattr(litellm, "telemetry"):  # older releases sent usage telemetry
        litellm.telemetry = False
    if "LITELLM_LOG" not in os.environ:
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.WARNING)
    return litellm


class LiteLLMOptions(BaseModel):
    """The member keys this provider understands beyond the member's own fields; any other key
    is a config error (keys come from the environment variable ``api_key_env`` names)."""

    model_config = ConfigDict(extra="forbid")

    api_base: str | None = None  # also accepted here; the member's own api_base wins


class LiteLLMProvider:
    """One member served through ``litellm.acompletion``."""

    Options = LiteLLMOptions

    def __init__(self, member: Member, context: ProviderContext) -> None:
        self.member = member
        self._context = context
        self._api_base: str | None = member.api_base or member.options.get("api_base")
        self._api_key = api_key_from_env(member)
        self._unpriced = False  # litellm's cost map failed for this model once: do not ask again

    async def complete(self, call: Call) -> Completion:
        litellm = _litellm()
        try:
            response = await litellm.acompletion(**self._kwargs(call))
        except Exception as exc:
            raise self._error(exc) from exc
        choice = response.choices[0]
        message = choice.message
        usage = usage_from(getattr(response, "usage", None)) or Usage()
        tool_calls = [_as_dict(tc) for tc in message.tool_calls] if message.tool_calls else None
        return Completion(
            text=message.content or "",
            model=response.model or self.member.model,
            usage=usage,
            cost_usd=self._cost(litellm, usage, response),
            finish_reason=choice.finish_reason,
            tool_calls=tool_calls,
            logprobs=_logprobs(choice),
        )

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        litellm = _litellm()
        parts: list[str] = []
        usage: Usage | None = None
        finish_reason: str | None = None
        model: str | None = None
        tool_calls: dict[int, dict[str, Any]] = {}
        tokens: list[Any] | None = None  # the content tokens' log-probabilities, when streamed
        try:
            chunks = await litellm.acompletion(
                **self._kwargs(call), stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                model = getattr(chunk, "model", None) or model
                usage = usage_from(getattr(chunk, "usage", None)) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                pieces = [_as_dict(tc) for tc in choice.delta.tool_calls or []]
                merge_tool_call_deltas(tool_calls, pieces)
                text = choice.delta.content or ""
                if text:
                    parts.append(text)
                logprobs = _logprobs(choice)
                if logprobs is not None and isinstance(logprobs["content"], list):
                    tokens = [*(tokens or []), *logprobs["content"]]
                if text or pieces:
                    yield StreamDelta(text=text, tool_calls=pieces or None, logprobs=logprobs)
        except Exception as exc:
            raise self._error(exc) from exc
        if finish_reason is None:  # the stream stopped before it said it was done
            raise TruncatedStream(
                f"{PROVIDER} {self.member.model}: stream ended without a finish_reason",
                provider=PROVIDER,
                model=self.member.model,
            )
        usage = usage or Usage()
        completion = Completion(
            text="".join(parts),
            model=model or self.member.model,
            usage=usage,
            cost_usd=self._cost(litellm, usage),
            finish_reason=finish_reason,
            tool_calls=[tool_calls[i] for i in sorted(tool_calls)] or None,
            logprobs={"content": tokens, "refusal": None} if tokens is not None else None,
        )
        yield StreamDelta(finish_reason=finish_reason, completion=completion)

    async def embed(self, texts: list[str], params: dict[str, Any]) -> Embeddings:
        """``litellm.aembedding`` on the member's model; ``params`` may carry ``dimensions``."""
        litellm = _litellm()
        kwargs: dict[str, Any] = {
            "model": self.member.model,
            "input": texts,
            "timeout": self.member.timeout_s or DEFAULT_TIMEOUT_S,
        }
        if params.get("dimensions") is not None:
            kwargs["dimensions"] = params["dimensions"]
        if self._api_base:
            kwargs["api_base"] = self._api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        try:
            response = await litellm.aembedding(**kwargs)
        except Exception as exc:
            raise self._error(exc) from exc
        rows = sorted((_as_dict(row) for row in response.data), key=lambda row: int(row.get("index") or 0))
        return Embeddings(
            vectors=[[float(x) for x in row["embedding"]] for row in rows],
            model=getattr(response, "model", None) or self.member.model,
            usage=usage_from(getattr(response, "usage", None)) or Usage(),
        )

    async def aclose(self) -> None:
        """Nothing to close: litellm owns its HTTP clients."""

    def _kwargs(self, call: Call) -> dict[str, Any]:
        params = {k: v for k, v in call.params.items() if v is not None and k not in _RESERVED}
        kwargs: dict[str, Any] = {
            **params,
            "model": self.member.model,
            "messages": [dict(m) for m in call.messages],  # litellm may edit them; the panel shares them
            "timeout": self.member.timeout_s or DEFAULT_TIMEOUT_S,
            "num_retries": 0,
            "max_retries": 0,
        }
        if self._api_base:
            kwargs["api_base"] = self._api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        log.debug("provider_request", provider=PROVIDER, member=self.member.name, model=self.member.model)
        return kwargs

    def _cost(self, litellm: ModuleType, usage: Usage, response: Any = None) -> float | None:
        """The member's own prices if it has them, else litellm's cost map; ``None`` if unknown.

        A model the cost map does not know is remembered: asking again costs more CPU than
        the rest of the call (litellm raises, and builds its error, on every lookup).
        """
        cost = self.member.cost_of(usage)
        if cost is not None or self._unpriced:
            return cost
        known = getattr(response, "_hidden_params", None) or {}
        if isinstance(known.get("response_cost"), int | float):  # litellm priced this response already
            return float(known["response_cost"])
        try:
            if response is not None:
                return float(litellm.completion_cost(completion_response=response))
            prompt, completion = litellm.cost_per_token(
                model=self.member.model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
            return float(prompt + completion)
        except Exception as exc:  # litellm raises assorted errors for models not in its cost map
            self._unpriced = True
            log.debug("cost_unknown", provider=PROVIDER, model=self.member.model, error=type(exc).__name__)
            return None

    def _error(self, exc: Exception) -> ProviderError:
        error = error_from_litellm(exc, model=self.member.model)
        log.debug(
            "provider_error", provider=PROVIDER, member=self.member.name, kind=error.kind, status=error.status
        )
        return error


def error_from_litellm(exc: Exception, *, model: str) -> ProviderError:
    """The one place an exception out of litellm becomes a :class:`ProviderError`.

    A transport failure in the cause chain wins (litellm reports a refused
    connection as a 500, and its status codes for these are made up); then
    litellm's exception class; then the HTTP status; else a plain ProviderError.
    """
    if isinstance(exc, ProviderError):
        return exc
    cls = _class_by_transport_cause(exc)
    status = None if cls else _status_of(exc)
    if cls is None:
        cls = _class_by_type(exc) or (error_class_for_status(status) if status else ProviderError)
    return cls(
        # litellm's text repeats the upstream's body (which may echo keys, prompts, addresses)
        upstream_failure(f"{PROVIDER} {model}", cls, status),
        provider=PROVIDER,
        model=model,
        status=status,
        retry_after=_retry_after(exc) if cls is RateLimited else None,
    )


def _class_by_transport_cause(exc: BaseException) -> type[ProviderError] | None:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, httpx.TimeoutException):
            return ProviderTimeout
        if isinstance(cause, httpx.TransportError):
            return ProviderConnectionError
        cause = cause.__cause__ or cause.__context__
    return None


def _class_by_type(exc: Exception) -> type[ProviderError] | None:
    litellm = _litellm()
    for name, ours in _ERRORS_BY_TYPE:
        theirs = getattr(litellm, name, None)
        if isinstance(theirs, type) and isinstance(exc, theirs):
            return ours
    return None


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    return retry_after_from_headers(headers)


def _status_of(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dict(dump()) if callable(dump) else dict(vars(obj))


def _logprobs(choice: Any) -> dict[str, Any] | None:
    """The choice's token log-probabilities in OpenAI's shape, when the backend returned them."""
    raw = getattr(choice, "logprobs", None)
    if raw is None:
        return None
    data = raw if isinstance(raw, dict) else _as_dict(raw)
    return data if isinstance(data, dict) and "content" in data else None
