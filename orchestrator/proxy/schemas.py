"""The OpenAI wire format: validating a chat request, and shaping completions, chunks and model lists.

Only the parameters named here ever reach a member, so a request can never
set a member's ``api_base``, key or provider (naming one is a 400).

Where the policy sees what is forwarded: :func:`plan` puts the messages (as
:class:`~orchestrator.types.Message`, which keeps only ``role``, ``content`` of text
parts, ``name``, ``tool_calls`` and ``tool_call_id``, and refuses non-text parts) and
the ``PASSED``/``TOOLS`` params into the engine's :class:`~orchestrator.types.Request`;
the engine's policy reads every string of both
(:func:`orchestrator.sovereignty.policy.forwarded_texts`) before any member is called.
Nothing else of the body (``user``, ``n``, ``stream_options``, unknown fields) is
forwarded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError, from_validation_error
from orchestrator.types import Candidate, Message, Request, Tags, Usage, Verdict

__all__ = [
    "ChatRequest",
    "Plan",
    "chunk",
    "completion",
    "dumps",
    "finish_of",
    "model_entry",
    "parse_chat_request",
    "plan",
    "shoal_meta",
    "usage_body",
]

# Sampling parameters every strategy can pass to its members.
PASSED = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "response_format",
    "top_k",
    "min_p",
    "repetition_penalty",
    "reasoning_effort",
)
# Tool calls: a member passes them on; of the strategies, those that pick one of the
# members' answers (single, vote, judge, and a cascade of them) agree on them; those
# that write their own answer (fusion, council, debate) cannot carry them.
TOOLS = ("tools", "tool_choice", "parallel_tool_calls")
TOOL_KINDS = frozenset({"single", "vote", "judge", "cascade"})
# Fields that would point a member elsewhere: never taken from a request.
FORBIDDEN = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_key_env",
        "custom_llm_provider",
        "provider",
        "organization",
        "headers",
        "extra_headers",
        "timeout",
        "options",
    }
)
MAX_N = 8


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``; unknown fields are ignored, never forwarded."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    reasoning_effort: str | None = None
    user: str | None = None
    shoal: Tags | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @property
    def choices(self) -> int:
        return self.n or 1


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated request and what the engine is asked to do with it."""

    chat: ChatRequest
    target: Target
    request: Request


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    forbidden = sorted(FORBIDDEN.intersection(body))
    if forbidden:
        raise ApiError(
            400,
            f"{forbidden[0]!r} cannot be set through a request: members and their endpoints and keys "
            "come from the server's configuration only",
            param=forbidden[0],
            code="forbidden_parameter",
        )
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def plan(chat: ChatRequest, target: Target) -> Plan:
    """The engine request for ``chat`` on ``target``, or a 400 naming what the target cannot honour."""
    _check_supported(chat, target)
    params = {key: getattr(chat, key) for key in PASSED if getattr(chat, key) is not None}
    if chat.max_completion_tokens is not None:
        params["max_tokens"] = chat.max_completion_tokens
    params |= {key: getattr(chat, key) for key in TOOLS if getattr(chat, key) is not None}
    request = Request(messages=chat.messages, params=params, tags=chat.shoal or Tags())
    return Plan(chat=chat, target=target, request=request)


def _check_supported(chat: ChatRequest, target: Target) -> None:
    if chat.logprobs or chat.top_logprobs:
        raise ApiError(400, "logprobs are not returned by Shoal; leave logprobs unset", param="logprobs")
    ensemble = target.kind != "member"
    writers = sorted(target.kinds - TOOL_KINDS)
    if chat.tools and ensemble and writers:
        raise ApiError(
            400,
            f"'tools': {target.id} may end in a written answer ({', '.join(writers)}) that cannot carry "
            "tool calls; use a vote, judge or single strategy, or a member's name as the model "
            "(see GET /v1/models)",
            param="tools",
            code="unsupported_parameter",
        )
    if chat.choices > 1:
        if ensemble:
            raise ApiError(
                400,
                f"n={chat.n}: {target.id} gives one verdict per request; send n=1 (or separate requests), "
                "or ask a member directly for n samples",
                param="n",
                code="unsupported_parameter",
            )
        if chat.stream:
            raise ApiError(400, "n > 1 cannot be streamed; send stream=false", param="n")
        if chat.choices > MAX_N:
            raise ApiError(400, f"n={chat.n} is more than the {MAX_N} allowed", param="n")


# -- responses -----------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def finish_of(verdict: Verdict, target: Target) -> str:
    """``tool_calls`` when the verdict calls tools; a member's own reason (``length``) if asked directly."""
    if verdict.tool_calls:
        return "tool_calls"
    if target.kind == "member":
        answered = next((c for c in reversed(verdict.candidates) if c.ok), None)
        if answered is not None and answered.finish_reason:
            return answered.finish_reason
    return "stop"


def completion(chat_id: str, created: int, target: Target, verdicts: list[Verdict]) -> dict[str, Any]:
    """A ``chat.completion``: one choice per verdict, usage summed over every upstream call."""
    choices = []
    usage = Usage()
    for index, verdict in enumerate(verdicts):
        message: dict[str, Any] = {"role": "assistant", "content": verdict.answer}
        if verdict.tool_calls:
            message["tool_calls"] = verdict.tool_calls
            message["content"] = verdict.answer or None
        finish = finish_of(verdict, target)
        choices.append({"index": index, "message": message, "finish_reason": finish, "logprobs": None})
        usage = usage + verdict.usage
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": target.id,
        "choices": choices,
        "usage": usage_body(usage),
        "system_fingerprint": None,
        "shoal": shoal_meta(verdicts[0], more=verdicts[1:]),
    }


def chunk(
    chat_id: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None,
    *,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    with_usage_field: bool = False,
    shoal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` makes the choice-less usage chunk."""
    body: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if with_usage_field or usage is not None:
        body["usage"] = usage_body(usage) if usage is not None else None
    if shoal is not None:
        body["shoal"] = shoal
    return body


def shoal_meta(verdict: Verdict, *, more: list[Verdict] | None = None) -> dict[str, Any]:
    """The verdict's metadata as the ``shoal`` extension object (standard clients ignore it)."""
    candidates = [c for v in [verdict, *(more or [])] for c in v.candidates]
    return {
        "request_id": verdict.request_id,
        "confidence": verdict.confidence,
        "abstained": verdict.abstained,
        "strategy": verdict.strategy,
        "route": verdict.route.model_dump(mode="json") if verdict.route else None,
        "dissent": verdict.dissent,
        "partial": verdict.partial,
        "sensitivity": verdict.sensitivity,
        "calls": sum(v.calls for v in [verdict, *(more or [])]),
        "cost_usd": sum(v.cost_usd for v in [verdict, *(more or [])]),
        "latency_s": verdict.latency_s,
        "clusters": [
            {"answer": c.answer, "members": c.members, "weight": c.weight} for c in verdict.clusters
        ],
        "candidates": [_candidate(c) for c in candidates],
    }


def _candidate(c: Candidate) -> dict[str, Any]:
    return {
        "member": c.member,
        "model": c.model,
        "role": c.role,
        "answer": c.text,
        "latency_s": round(c.latency_s, 6),
        "error": c.error.model_dump(mode="json") if c.error else None,
        "usage": usage_body(c.usage),
        "cost_usd": c.cost_usd,
        "attempts": c.attempts,
        "cached": c.cached,
        "replaces": c.replaces,
    }


def model_entry(target: Target, created: int) -> dict[str, Any]:
    return {"id": target.id, "object": "model", "created": created, "owned_by": target.owned_by}


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
