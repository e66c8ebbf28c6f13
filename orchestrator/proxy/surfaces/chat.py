"""``POST /v1/chat/completions``: OpenAI's chat format over the engine.

Only the parameters named in :data:`PASSED` and :data:`TOOLS` reach a member,
as ``Request.params``; the messages become ``Request.messages`` (legacy
``functions``/``function_call`` and ``role: "function"`` messages are mapped to
tools, tool calls and tool messages first). Both are what the policy scans
(``Gatekeeper.clear`` reads the whole engine request) before any call is made.
Any other field is ignored, never forwarded; of a message only ``role``, text
``content``, ``name``, ``tool_calls`` and ``tool_call_id`` are kept
(:class:`~orchestrator.types.Message`), and the policy reads every string of the
messages and params (``orchestrator.sovereignty.policy.forwarded_texts``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError, from_validation_error
from orchestrator.proxy.surfaces.base import (
    TOOL_KINDS,
    Plan,
    dumps,
    member_finish,
    object_body,
    openai_error,
    shoal_meta,
    usage_of,
)
from orchestrator.types import Message, Request, Tags, Usage, Verdict, assembled, new_request_id

if TYPE_CHECKING:
    from starlette.responses import Response

    from orchestrator.proxy.app import Proxy

__all__ = ["ChatEncoder", "ChatRequest", "ChatSurface", "completion", "parse", "plan"]

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
MAX_N = 8


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class LegacyMessage(Message):
    """A message that may also be ``role: "function"`` (the pre-tools format)."""

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]  # type: ignore[assignment]
    function_call: dict[str, Any] | None = None  # mapped to a tool call by _messages


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``; unknown fields are ignored, never forwarded."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[LegacyMessage] = Field(min_length=1)
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
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
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

    @property
    def legacy(self) -> bool:
        """The request speaks the pre-tools format (``functions``): so does its answer."""
        return self.functions is not None and self.tools is None


def parse(body: Any) -> ChatRequest:
    body = object_body(body)
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def plan(chat: ChatRequest, target: Target) -> Plan:
    """The engine request for ``chat`` on ``target``, or a 400 naming what the target cannot honour."""
    _check_supported(chat, target)
    fields = chat.__dict__  # the validated fields, read once each
    params = {key: fields[key] for key in PASSED if fields[key] is not None}
    if chat.max_completion_tokens is not None:
        params["max_tokens"] = chat.max_completion_tokens
    params |= {key: fields[key] for key in TOOLS if fields[key] is not None}
    if chat.legacy:
        params |= _legacy_tools(chat)
    if chat.logprobs or chat.top_logprobs:  # a member asked directly (checked above)
        params["logprobs"] = True
        if chat.top_logprobs:
            params["top_logprobs"] = chat.top_logprobs
    # Every part is validated already (the messages, a dict of params, the caller's tags), so the
    # request is assembled from them, as Request(...) would build it.
    request = assembled(
        Request,
        messages=_messages(chat.messages),
        params=params,
        tags=chat.shoal or assembled(Tags),
        request_id=new_request_id(),
    )
    return Plan(
        target=target,
        request=request,
        wire=chat,
        stream=chat.stream,
        choices=chat.choices,
        include_usage=chat.include_usage,
        caller_tags=chat.shoal,
    )


def _check_supported(chat: ChatRequest, target: Target) -> None:
    ensemble = target.kind != "member"
    if (chat.logprobs or chat.top_logprobs) and ensemble:
        raise ApiError(
            400,
            f"logprobs: {target.id} answers with a verdict over several generations, which has no "
            "token log-probabilities; ask a member directly (its name as the model) or leave logprobs unset",
            param="logprobs",
            code="unsupported_parameter",
        )
    writers = sorted(target.kinds - TOOL_KINDS)
    if (chat.tools or chat.functions) and ensemble and writers:
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


def _legacy_tools(chat: ChatRequest) -> dict[str, Any]:
    """``functions``/``function_call`` as ``tools``/``tool_choice``."""
    out: dict[str, Any] = {"tools": [{"type": "function", "function": f} for f in chat.functions or []]}
    choice = chat.function_call
    if isinstance(choice, str):
        out["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("name"):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    return out


def _messages(messages: list[LegacyMessage]) -> list[Message]:
    """The engine's messages: an assistant ``function_call`` becomes a tool call, and a
    ``function`` message the tool message that answers it (matched by name)."""
    out: list[Message] = []
    open_calls: dict[str, list[str]] = {}
    for index, message in enumerate(messages):
        if message.function_call is None and message.role != "function":
            out.append(_plain(message))
            continue
        data = message.model_dump(exclude_none=True)
        call = data.pop("function_call", None)
        if message.role == "assistant" and isinstance(call, dict):
            call_id = f"call_{index}_{call.get('name', '')}"
            open_calls.setdefault(str(call.get("name", "")), []).append(call_id)
            data["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.get("name", ""), "arguments": call.get("arguments", "")},
                }
            ]
        elif message.role == "function":
            name = str(data.pop("name", ""))
            pending = open_calls.get(name) or []
            data = {
                "role": "tool",
                "tool_call_id": pending.pop(0) if pending else f"call_{name}",
                "content": data.get("content") or "",
            }
        out.append(Message.model_validate(data))
    return out


_MESSAGE_FIELDS = tuple(Message.model_fields)


def _plain(message: LegacyMessage) -> Message:
    """A message of the current format as the engine's :class:`Message`: its validated fields
    that are set (the same message ``Message.model_validate(message.model_dump(exclude_none=True))``
    gives, its parts and tool calls the instances validated already)."""
    fields = message.__dict__
    return assembled(Message, **{k: fields[k] for k in _MESSAGE_FIELDS if fields[k] is not None})


# -- answers -------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def finish_of(verdict: Verdict, target: Target, legacy: bool = False) -> str:
    """``tool_calls`` when the verdict calls tools; a member's own reason (``length``) if asked directly."""
    if verdict.tool_calls:
        return "function_call" if legacy else "tool_calls"
    own = member_finish(verdict, target)
    return own if own in ("stop", "length", "content_filter") else "stop"


def message_of(verdict: Verdict, legacy: bool) -> dict[str, Any]:
    """The assistant message: the chosen answer's own text (null when it only calls tools), and its calls."""
    message: dict[str, Any] = {"role": "assistant", "content": verdict.answer, "refusal": None}
    if verdict.tool_calls:
        message["content"] = verdict.answer or None
        if legacy:
            message["function_call"] = dict(verdict.tool_calls[0]["function"])
        else:
            message["tool_calls"] = [_whole_call(c) for c in verdict.tool_calls]
    return message


def _whole_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call.get("id") or "call_0",
        "type": "function",
        "function": {"name": function.get("name") or "", "arguments": function.get("arguments") or ""},
    }


def logprobs_of(verdict: Verdict, target: Target) -> dict[str, Any] | None:
    if target.kind != "member":
        return None
    answered = next((c for c in reversed(verdict.candidates) if c.ok), None)
    return answered.logprobs if answered is not None else None


def completion(chat_id: str, created: int, plan: Plan, verdicts: list[Verdict]) -> dict[str, Any]:
    """A ``chat.completion``: one choice per verdict, usage summed over every upstream call."""
    chat: ChatRequest = plan.wire
    choices = [
        {
            "index": index,
            "message": message_of(verdict, chat.legacy),
            "finish_reason": finish_of(verdict, plan.target, chat.legacy),
            "logprobs": logprobs_of(verdict, plan.target),
        }
        for index, verdict in enumerate(verdicts)
    ]
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.target.id,
        "choices": choices,
        "usage": usage_body(usage_of(verdicts)),
        "shoal": shoal_meta(verdicts[0], more=verdicts[1:]),
    }


def event(body: dict[str, Any]) -> bytes:
    return b"data: " + dumps(body) + b"\n\n"


class ChatEncoder:
    """``chat.completion.chunk`` events: the role first, text and tool-call pieces as they come,
    the finish, usage when asked, the ``shoal`` metadata on the last chunk, ``data: [DONE]``."""

    heartbeat = b": keep-alive\n\n"

    def __init__(self, chat_id: str, created: int, plan: Plan) -> None:
        self.chat_id = chat_id
        self.created = created
        self.plan = plan
        self.legacy = plan.wire.legacy if isinstance(plan.wire, ChatRequest) else False

    def _chunk(
        self,
        delta: dict[str, Any] | None,
        *,
        finish_reason: str | None = None,
        usage: Usage | None = None,
        shoal: dict[str, Any] | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        body: dict[str, Any] = {
            "id": self.chat_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.plan.target.id,
            "choices": []
            if delta is None
            else [
                {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": finish_reason,
                    "logprobs": None if logprobs is None else {"refusal": None, **logprobs},
                }
            ],
        }
        if self.plan.include_usage or usage is not None:
            body["usage"] = usage_body(usage) if usage is not None else None
        if shoal is not None:
            body["shoal"] = shoal
        return event(body)

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def text(self, text: str, logprobs: dict[str, Any] | None = None) -> bytes:
        """A content delta; with ``logprobs`` (a member asked directly streamed them) its tokens'."""
        return self._chunk({"content": text}, logprobs=logprobs)

    def tool_calls(self, pieces: list[dict[str, Any]]) -> bytes:
        if self.legacy:
            function = pieces[0].get("function") or {}
            return self._chunk({"function_call": {k: v for k, v in function.items() if v is not None}})
        return self._chunk({"tool_calls": [_piece(p) for p in pieces]})

    async def finish(self, verdict: Verdict, tail: str, calls: list[dict[str, Any]] | None) -> list[bytes]:
        parts = []
        if tail:
            parts.append(self.text(tail))
        if calls:
            parts.append(self.tool_calls([{"index": i, **_whole_call(c)} for i, c in enumerate(calls)]))
        finish = finish_of(verdict, self.plan.target, self.legacy)
        meta = shoal_meta(verdict)
        parts.append(self._chunk({}, finish_reason=finish, shoal=None if self.plan.include_usage else meta))
        if self.plan.include_usage:
            parts.append(self._chunk(None, usage=verdict.usage, shoal=meta))
        parts.append(b"data: [DONE]\n\n")
        return parts

    def error(self, error: ApiError) -> list[bytes]:
        return [event(error.body()), b"data: [DONE]\n\n"]


def _piece(piece: dict[str, Any]) -> dict[str, Any]:
    """A member's tool-call piece in the chunk's shape (only the fields the format has)."""
    out: dict[str, Any] = {"index": int(piece.get("index") or 0)}
    if piece.get("id"):
        out["id"] = piece["id"]
        out["type"] = "function"
    function = piece.get("function") or {}
    shaped = {k: function[k] for k in ("name", "arguments") if function.get(k) is not None}
    if shaped:
        out["function"] = shaped
    return out


class ChatSurface:
    """The chat completions surface of one proxy."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def plan(self, body: Any) -> Plan:
        chat = parse(body)
        return plan(chat, self.proxy.target(chat.model))

    async def render(self, planned: Plan, verdicts: list[Verdict]) -> dict[str, Any]:
        return completion("chatcmpl-" + planned.request.request_id, int(time.time()), planned, verdicts)

    def encoder(self, planned: Plan) -> ChatEncoder:
        return ChatEncoder("chatcmpl-" + planned.request.request_id, int(time.time()), planned)

    def error_response(self, error: ApiError) -> Response:
        return openai_error(error)
