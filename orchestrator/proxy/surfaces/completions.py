"""``POST /v1/completions``: the legacy completions API (prompt in, text out).

The prompt becomes the one user message of the engine request (what the
policy scans), for members and strategies alike; a member whose backend is
completion-style (``openai_compat`` with ``prompt_style = "completion"``, the
local base models) is sent the prompt itself. ``max_tokens``, ``temperature``,
``top_p``, ``stop``, ``seed``, the penalties and ``logit_bias`` are passed on
as ``Request.params``; ``echo``, ``suffix``, ``best_of`` and ``logprobs`` are a 400.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.proxy.errors import ApiError, from_validation_error
from orchestrator.proxy.surfaces.base import (
    Plan,
    dumps,
    member_finish,
    object_body,
    openai_error,
    shoal_meta,
    usage_of,
)
from orchestrator.types import Message, Request, Tags, Usage, Verdict

if TYPE_CHECKING:
    from starlette.responses import Response

    from orchestrator.proxy.app import Proxy

__all__ = ["CompletionsEncoder", "CompletionsRequest", "CompletionsSurface"]

PASSED = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
)
MAX_N = 8


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class CompletionsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    prompt: str | list[str]
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None
    logprobs: int | None = None
    user: str | None = None
    shoal: Tags | None = None


def _refuse(param: str, why: str) -> ApiError:
    return ApiError(400, f"{param}: {why}", param=param, code="unsupported_parameter")


def to_plan(wire: CompletionsRequest, proxy: Proxy) -> Plan:
    prompts = [wire.prompt] if isinstance(wire.prompt, str) else wire.prompt
    if len(prompts) != 1:
        raise _refuse("prompt", "send one prompt (a string) per request")
    if wire.echo:
        raise _refuse("echo", "the prompt is not echoed; leave echo unset")
    if wire.suffix:
        raise _refuse("suffix", "insertion (suffix) is not supported")
    if wire.best_of not in (None, 1):
        raise _refuse("best_of", "use n, or a shoal/<strategy> model to cross-check several answers")
    if wire.logprobs:
        raise _refuse(
            "logprobs", "not returned on completions; ask a member directly through chat completions"
        )
    target = proxy.target(wire.model)
    choices = wire.n or 1
    if choices > 1 and (target.kind != "member" or wire.stream or choices > MAX_N):
        raise _refuse("n", f"n > 1 needs a member as the model, stream=false and at most {MAX_N}")
    params = {key: getattr(wire, key) for key in PASSED if getattr(wire, key) is not None}
    request = Request(
        messages=[Message(role="user", content=prompts[0])], params=params, tags=wire.shoal or Tags()
    )
    include_usage = bool(wire.stream_options and wire.stream_options.include_usage)
    return Plan(
        target=target,
        request=request,
        wire=wire,
        stream=wire.stream,
        choices=choices,
        include_usage=include_usage,
        caller_tags=wire.shoal,
    )


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def finish_of(verdict: Verdict, plan: Plan) -> str:
    return "length" if member_finish(verdict, plan.target) == "length" else "stop"


def text_of(verdict: Verdict, plan: Plan) -> str:
    """A member asked directly: its text as generated (a continuation's leading space matters)."""
    if plan.target.kind == "member":
        answered = next((c for c in reversed(verdict.candidates) if c.ok), None)
        if answered is not None and answered.text is not None and answered.text.strip() == verdict.answer:
            return answered.text
    return verdict.answer


class CompletionsEncoder:
    heartbeat = b": keep-alive\n\n"

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.id = "cmpl-" + plan.request.request_id.removeprefix("req_")
        self.created = int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.plan.target.id,
            "choices": choices,
            **extra,
        }
        return b"data: " + dumps(body) + b"\n\n"

    def start(self) -> bytes:
        return b""

    def text(self, text: str, logprobs: dict[str, Any] | None = None) -> bytes:
        # logprobs are a 400 on completions, so no member is asked for them
        return self._chunk([{"text": text, "index": 0, "logprobs": None, "finish_reason": None}])

    def tool_calls(self, pieces: list[dict[str, Any]]) -> bytes:
        return b""  # no tools are offered on completions, so none are called

    async def finish(self, verdict: Verdict, tail: str, calls: list[dict[str, Any]] | None) -> list[bytes]:
        finish = finish_of(verdict, self.plan)
        meta = shoal_meta(verdict)
        last = [{"text": tail, "index": 0, "logprobs": None, "finish_reason": finish}]
        parts = [self._chunk(last, **({} if self.plan.include_usage else {"shoal": meta}))]
        if self.plan.include_usage:
            parts.append(self._chunk([], usage=usage_body(verdict.usage), shoal=meta))
        parts.append(b"data: [DONE]\n\n")
        return parts

    def error(self, error: ApiError) -> list[bytes]:
        return [b"data: " + dumps(error.body()) + b"\n\n", b"data: [DONE]\n\n"]


class CompletionsSurface:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def plan(self, body: Any) -> Plan:
        try:
            wire = CompletionsRequest.model_validate(object_body(body))
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        return to_plan(wire, self.proxy)

    async def render(self, plan: Plan, verdicts: list[Verdict]) -> dict[str, Any]:
        return {
            "id": "cmpl-" + plan.request.request_id.removeprefix("req_"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": plan.target.id,
            "choices": [
                {"text": text_of(v, plan), "index": i, "logprobs": None, "finish_reason": finish_of(v, plan)}
                for i, v in enumerate(verdicts)
            ],
            "usage": usage_body(usage_of(verdicts)),
            "shoal": shoal_meta(verdicts[0], more=verdicts[1:]),
        }

    def encoder(self, plan: Plan) -> CompletionsEncoder:
        return CompletionsEncoder(plan)

    def error_response(self, error: ApiError) -> Response:
        return openai_error(error)
