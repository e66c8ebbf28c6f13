"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: Anthropic's Messages API.

Auth takes ``x-api-key`` as well as a bearer key; errors come in Anthropic's
shape (``{"type": "error", "error": {"type", "message"}}``); the model a client
sends (Claude Code sends its own names) is looked up in ``[server]
model_aliases`` when it is not a served model id.

Where the policy sees each field (all of it goes into the one engine
:class:`~orchestrator.types.Request` that ``Gatekeeper.clear`` scans):

- ``system`` becomes a system message; ``messages`` chat messages: text
  blocks as text parts, ``tool_use`` blocks the assistant's tool calls,
  ``tool_result`` blocks tool messages (image blocks are a 400: the policy
  reads text only);
- ``tools`` become ``params["tools"]`` (``input_schema`` as the parameters),
  ``tool_choice`` ``params["tool_choice"]``, ``stop_sequences``
  ``params["stop"]``, ``max_tokens``, ``temperature``, ``top_p``, ``top_k`` as is;
- ``metadata`` is never sent to a member; ``thinking`` blocks of earlier turns
  are dropped (a member's own reasoning is not replayed). Other block types
  (documents, server tools, ...) are a 400.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from orchestrator.proxy.errors import ApiError, from_validation_error
from orchestrator.proxy.surfaces.base import (
    JSON,
    TOOL_KINDS,
    Plan,
    dumps,
    member_finish,
    object_body,
    shoal_meta,
)
from orchestrator.types import Message, Request, Tags, Verdict

if TYPE_CHECKING:
    from starlette.requests import Request as HttpRequest

    from orchestrator.proxy.app import Proxy

__all__ = ["MessagesEncoder", "MessagesRequest", "MessagesSurface", "anthropic_error"]

DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(BaseModel):
    """``POST /v1/messages``; unknown fields are ignored, never forwarded."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream: bool = False
    shoal: Tags | None = None


class CountRequest(MessagesRequest):
    max_tokens: int = Field(default=1, ge=1)


# -- the request ---------------------------------------------------------------------


def to_request(wire: MessagesRequest) -> Request:
    messages = []
    system = _system_text(wire.system)
    if system:
        messages.append(Message(role="system", content=system))
    for index, message in enumerate(wire.messages):
        messages += _messages(message, index)
    params: dict[str, Any] = {"max_tokens": wire.max_tokens}
    for key in ("temperature", "top_p", "top_k"):
        if getattr(wire, key) is not None:
            params[key] = getattr(wire, key)
    if wire.stop_sequences:
        params["stop"] = wire.stop_sequences
    if wire.tools:
        params["tools"] = [_tool(t, i) for i, t in enumerate(wire.tools)]
    if wire.tool_choice is not None:
        params |= _tool_choice(wire.tool_choice)
    return Request(messages=messages, params=params, tags=wire.shoal or Tags())


def _system_text(system: str | list[dict[str, Any]] | None) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    texts = []
    for index, block in enumerate(system):
        if block.get("type") != "text":
            raise _unsupported(f"system.{index}.type", f"system blocks of type {block.get('type')!r}")
        texts.append(str(block.get("text", "")))
    return "\n\n".join(texts)


def _messages(message: AnthropicMessage, index: int) -> list[Message]:
    """One Anthropic message as chat messages: tool results become tool messages of their own."""
    if isinstance(message.content, str):
        return [Message(role=message.role, content=message.content)]
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[Message] = []
    for at, block in enumerate(message.content):
        kind = block.get("type")
        where = f"messages.{index}.content.{at}"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "tool_use" and message.role == "assistant":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(
                {
                    "id": str(block.get("id") or f"toolu_{at}"),
                    "type": "function",
                    "function": {"name": str(block.get("name") or ""), "arguments": arguments},
                }
            )
        elif kind == "tool_result" and message.role == "user":
            content = _result_text(block.get("content"), where)
            results.append(
                Message.model_validate(
                    {"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": content}
                )
            )
        elif kind in DROPPED_BLOCKS:
            continue
        else:
            raise _unsupported(f"{where}.type", f"content blocks of type {kind!r}")
    out = list(results)
    if message.role == "assistant":
        text = "".join(p.get("text", "") for p in parts if p["type"] == "text")
        data: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            data["tool_calls"] = calls
        if text or calls:
            out.append(Message.model_validate(data))
    elif parts:
        out.append(Message.model_validate({"role": "user", "content": parts}))
    return out


def _result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _unsupported(f"{where}.content", "tool results other than text")
        texts.append(str(block.get("text", "")))
    return "".join(texts)


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom") or "name" not in tool:
        raise _unsupported(f"tools.{index}.type", f"tools of type {tool.get('type')!r} (only client tools)")
    function = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and choice.get("name"):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise _unsupported("tool_choice.type", f"tool_choice {choice!r}")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


def _unsupported(param: str, what: str) -> ApiError:
    return ApiError(
        400,
        f"{param}: {what} are not supported by this server; send text, image, tool_use and "
        "tool_result blocks, and client tools",
        param=param,
        code="unsupported_parameter",
    )


def estimate_tokens(request: Request) -> int:
    """About four characters a token over what would be sent (messages and tool definitions): an
    estimate, since the members' tokenizers differ and none is loaded here."""
    sent = json.dumps(request.wire_messages(), ensure_ascii=False) + json.dumps(
        request.params.get("tools") or []
    )
    return max(1, math.ceil(len(sent) / 4))


# -- the response --------------------------------------------------------------------


def stop_reason(verdict: Verdict, plan: Plan) -> str:
    if verdict.tool_calls:
        return "tool_use"
    return "max_tokens" if member_finish(verdict, plan.target) == "length" else "end_turn"


def tool_input(call: dict[str, Any]) -> dict[str, Any]:
    arguments = (call.get("function") or {}).get("arguments") or "{}"
    try:
        value = json.loads(arguments)
    except ValueError:
        raise ApiError(
            502,
            f"the member called {(call.get('function') or {}).get('name')!r} with arguments that are "
            "not JSON: "
            f"{arguments[:200]!r}",
            type="upstream_error",
            code="invalid_tool_arguments",
        ) from None
    return value if isinstance(value, dict) else {"value": value}


def message_body(message_id: str, plan: Plan, verdict: Verdict) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if verdict.answer or not verdict.tool_calls:
        content.append({"type": "text", "text": verdict.answer})
    for call in verdict.tool_calls or []:
        name = (call.get("function") or {}).get("name") or ""
        content.append(
            {"type": "tool_use", "id": call.get("id") or "toolu_0", "name": name, "input": tool_input(call)}
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.wire.model,
        "content": content,
        "stop_reason": stop_reason(verdict, plan),
        "stop_sequence": None,
        "usage": {
            "input_tokens": verdict.usage.prompt_tokens,
            "output_tokens": verdict.usage.completion_tokens,
        },
        "shoal": shoal_meta(verdict),
    }


def anthropic_error(error: ApiError) -> Response:
    kind = ERROR_TYPES.get(error.status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": error.message}}
    return Response(dumps(body), status_code=error.status, media_type=JSON, headers=error.headers)


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps({"type": kind, **body}) + b"\n\n"


class MessagesEncoder:
    """Anthropic's events: ``message_start``, per block ``content_block_start``, its deltas
    (``text_delta``, ``input_json_delta``) and ``content_block_stop``, then ``message_delta``
    (stop reason, usage) and ``message_stop``; ``ping`` while the panel works; ``error``."""

    heartbeat = _event("ping", {})

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.message_id = "msg_" + plan.request.request_id.removeprefix("req_")
        self.blocks = 0
        self.open: tuple[str, int] | None = None  # ("text", -1) or ("tool", the call's index)

    def start(self) -> bytes:
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.plan.wire.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event("message_start", {"message": message})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        self.blocks += 1
        return _event("content_block_stop", {"index": self.blocks - 1})

    def text(self, text: str, logprobs: dict[str, Any] | None = None) -> bytes:
        # Messages has no log-probabilities and never asks a member for them
        out = bytearray()
        if self.open != ("text", -1):
            out += self._close()
            self.open = ("text", -1)
            out += _event(
                "content_block_start", {"index": self.blocks, "content_block": {"type": "text", "text": ""}}
            )
        out += _event(
            "content_block_delta", {"index": self.blocks, "delta": {"type": "text_delta", "text": text}}
        )
        return bytes(out)

    def tool_calls(self, pieces: list[dict[str, Any]]) -> bytes:
        out = bytearray()
        for piece in pieces:
            at = int(piece.get("index") or 0)
            function = piece.get("function") or {}
            if self.open != ("tool", at):
                out += self._close()
                self.open = ("tool", at)
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": piece.get("id") or f"toolu_{at}",
                    "name": function.get("name") or "",
                    "input": {},
                }
                out += _event("content_block_start", {"index": self.blocks, "content_block": block})
            if function.get("arguments"):
                delta = {"type": "input_json_delta", "partial_json": function["arguments"]}
                out += _event("content_block_delta", {"index": self.blocks, "delta": delta})
        return bytes(out)

    async def finish(self, verdict: Verdict, tail: str, calls: list[dict[str, Any]] | None) -> list[bytes]:
        parts = []
        if tail:
            parts.append(self.text(tail))
        if calls:
            parts.append(self.tool_calls([{"index": 1000 + i, **c} for i, c in enumerate(calls)]))
        parts.append(self._close())
        usage = {
            "input_tokens": verdict.usage.prompt_tokens,
            "output_tokens": verdict.usage.completion_tokens,
        }
        delta = {"stop_reason": stop_reason(verdict, self.plan), "stop_sequence": None}
        parts.append(_event("message_delta", {"delta": delta, "usage": usage, "shoal": shoal_meta(verdict)}))
        parts.append(_event("message_stop", {}))
        return parts

    def error(self, error: ApiError) -> list[bytes]:
        kind = ERROR_TYPES.get(error.status, "api_error")
        return [_event("error", {"error": {"type": kind, "message": error.message}})]


class MessagesSurface:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def _parse(self, body: Any, model: type[MessagesRequest]) -> MessagesRequest:
        body = object_body(body)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise from_validation_error(exc) from None

    async def plan(self, body: Any) -> Plan:
        wire = self._parse(body, MessagesRequest)
        target = self.proxy.target(wire.model)
        if wire.tools and target.kind != "member" and target.kinds - TOOL_KINDS:
            raise ApiError(
                400,
                f"tools: {target.id} may end in a written answer that cannot carry tool calls; map the model "
                "to a vote, judge or single strategy, or to a member",
                param="tools",
            )
        return Plan(
            target=target, request=to_request(wire), wire=wire, stream=wire.stream, caller_tags=wire.shoal
        )

    async def render(self, plan: Plan, verdicts: list[Verdict]) -> dict[str, Any]:
        return message_body("msg_" + plan.request.request_id.removeprefix("req_"), plan, verdicts[0])

    def encoder(self, plan: Plan) -> MessagesEncoder:
        return MessagesEncoder(plan)

    def error_response(self, error: ApiError) -> Response:
        return anthropic_error(error)

    async def count_tokens(self, request: HttpRequest) -> Response:
        from orchestrator.proxy.app import read_json

        try:
            self.proxy.authorize(request)
            wire = self._parse(await read_json(request, self.proxy.settings), CountRequest)
            self.proxy.target(wire.model)
            counted = estimate_tokens(to_request(wire))
        except ApiError as exc:
            return anthropic_error(exc)
        return Response(dumps({"input_tokens": counted}), media_type=JSON)
