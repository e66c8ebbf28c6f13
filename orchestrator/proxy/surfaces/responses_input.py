"""The Responses API's request: its model, and its conversion into the engine request.

See :mod:`orchestrator.proxy.surfaces.responses` for where the policy sees each field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.proxy.errors import ApiError
from orchestrator.types import Message, Request, Tags

__all__ = ["ResponsesRequest", "TextOptions", "input_messages", "to_request", "unsupported"]


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: TextFormat | None = None


class ResponsesRequest(BaseModel):
    """``POST /v1/responses``; unknown fields are ignored, never forwarded."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    store: bool = True
    previous_response_id: str | None = None
    stream: bool = False
    background: bool | None = None
    user: str | None = None
    shoal: Tags | None = None


# -- the request ---------------------------------------------------------------------


def to_request(wire: ResponsesRequest, history: list[dict[str, Any]]) -> Request:
    """The engine request: the stored ``history``, then ``input``, behind ``instructions``."""
    messages = [Message(role="system", content=wire.instructions)] if wire.instructions else []
    messages += [Message.model_validate(m) for m in history]
    messages += input_messages(wire.input)
    params: dict[str, Any] = {}
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        if getattr(wire, key) is not None:
            params[key] = getattr(wire, key)
    if wire.max_output_tokens is not None:
        params["max_tokens"] = wire.max_output_tokens
    if wire.tools:
        params["tools"] = [_tool(t, i) for i, t in enumerate(wire.tools)]
    if wire.tool_choice is not None:
        params["tool_choice"] = _tool_choice(wire.tool_choice)
    response_format = _format(wire.text)
    if response_format is not None:
        params["response_format"] = response_format
    return Request(messages=messages, params=params, tags=wire.shoal or Tags())


def input_messages(given: str | list[dict[str, Any]]) -> list[Message]:
    """Responses input items as chat messages (consecutive function calls join one assistant turn)."""
    if isinstance(given, str):
        return [Message(role="user", content=given)]
    out: list[Message] = []
    for index, item in enumerate(given):
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, index))
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or f"call_{index}"),
                "type": "function",
                "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "")},
            }
            last = out[-1] if out else None
            if last is not None and last.role == "assistant":
                calls = [c.model_dump() for c in last.tool_calls or []]
                out[-1] = Message.model_validate(
                    {**last.model_dump(exclude_none=True), "tool_calls": [*calls, call]}
                )
            else:
                out.append(
                    Message.model_validate({"role": "assistant", "content": None, "tool_calls": [call]})
                )
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _parts_text(output, f"input.{index}.output")
            out.append(
                Message.model_validate(
                    {"role": "tool", "tool_call_id": str(item.get("call_id")), "content": text}
                )
            )
        else:
            raise unsupported(f"input.{index}.type", f"input items of type {kind!r}")
    return out


def _message(item: dict[str, Any], index: int) -> Message:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise ApiError(
            400,
            f"input.{index}.role: {role!r} is not user, assistant, system or developer",
            param=f"input.{index}.role",
            code="invalid_value",
        )
    content = item.get("content")
    if isinstance(content, str):
        return Message(role=role, content=content)
    parts: list[dict[str, Any]] = []
    for at, part in enumerate(content or []):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
        else:
            raise unsupported(f"input.{index}.content.{at}.type", f"content parts of type {kind!r}")
    if role == "assistant":  # an assistant's earlier output goes back as its text
        return Message(role=role, content="".join(p.get("text", "") for p in parts))
    return Message.model_validate({"role": role, "content": parts})


def _parts_text(parts: Any, where: str) -> str:
    if not isinstance(parts, list):
        raise ApiError(400, f"{where}: expected a string or a list of text parts", param=where)
    texts = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
            raise unsupported(where, "tool outputs other than text")
        texts.append(str(part.get("text", "")))
    return "".join(texts)


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise unsupported(f"tools.{index}.type", f"tools of type {tool.get('type')!r} (only function tools)")
    function = {
        k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None
    }
    return {"type": "function", "function": function}


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise unsupported("tool_choice", f"tool_choice {choice!r}")


def _format(text: TextOptions | None) -> dict[str, Any] | None:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema_ or {}}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    if fmt.description:
        schema["description"] = fmt.description
    return {"type": "json_schema", "json_schema": schema}


def unsupported(param: str, what: str) -> ApiError:
    return ApiError(
        400,
        f"{param}: {what} are not supported by this server; send message, function_call and "
        "function_call_output items, and function tools",
        param=param,
        code="unsupported_parameter",
    )
