"""``GET /v1/responses/{id}/input_items``: the items a stored response was created from.

A stored response keeps its input as item resources (each with an ``id``), in the
order they were used: the items carried over from ``previous_response_id`` (that
response's own input items, then its output), then the request's own ``input``.
``instructions`` are not items (they are not carried over either). The list is
paged as OpenAI's ``ResponseItemList``: ``order`` (``desc``, newest first, by
default), ``limit`` (1-100, 20), ``after``/``before`` an item id in that order.

Security: nothing here reaches a member; the items are read back to a caller
whose key the proxy checked, exactly as ``GET /v1/responses/{id}`` reads the
response itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.proxy.errors import ApiError

__all__ = ["INCLUDABLE", "item_page", "items_of_input", "items_of_messages"]

# The spec's IncludeEnum: accepted (nothing Shoal stores has more to add), anything else is a 400.
INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)
_TEXT_KINDS = ("input_text", "output_text", "text")


def items_of_input(given: str | list[dict[str, Any]], base: str, taken: set[str]) -> list[dict[str, Any]]:
    """The request's ``input`` (already validated by ``input_messages``) as item resources.

    An item keeps the ``id`` the client gave it when that id is not in ``taken`` (ids
    already in the list); the others get ``<prefix>_<base>_in<index>``.
    """
    if isinstance(given, str):
        given = [{"type": "message", "role": "user", "content": given}]
    out = []
    for index, item in enumerate(given):
        resource = _resource(item)
        own = item.get("id")
        resource["id"] = (
            own
            if isinstance(own, str) and own and own not in taken
            else f"{_PREFIX[resource['type']]}_{base}_in{index}"
        )
        taken.add(resource["id"])
        out.append(resource)
    return out


_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


def _resource(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    if kind == "function_call":
        return {
            "type": "function_call",
            "call_id": str(item.get("call_id") or item.get("id") or ""),
            "name": str(item.get("name") or ""),
            "arguments": str(item.get("arguments") or ""),
            "status": "completed",
        }
    if kind == "function_call_output":
        output = item.get("output")
        return {
            "type": "function_call_output",
            "call_id": str(item.get("call_id")),
            "output": output if isinstance(output, str) else _parts(output, "input_text"),
            "status": "completed",
        }
    return _message(str(item.get("role")), item.get("content"))


def _message(role: str, content: Any) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    parts: list[dict[str, Any]] = (
        [{"type": kind, "text": content}] if isinstance(content, str) else _parts(content, kind)
    )
    if role == "assistant":  # an earlier answer: the spec's OutputMessage
        for part in parts:
            if part["type"] == "output_text":
                part.update(annotations=[], logprobs=[])
    return {"type": "message", "role": role, "status": "completed", "content": parts}


def _parts(parts: Any, kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts or []:
        if part.get("type") == "refusal" and kind == "output_text":
            out.append({"type": "refusal", "refusal": str(part.get("refusal", ""))})
        else:
            text = part.get("refusal", "") if part.get("type") == "refusal" else part.get("text", "")
            out.append({"type": kind, "text": str(text)})
    return out


def items_of_messages(messages: Sequence[Mapping[str, Any]], base: str) -> list[dict[str, Any]]:
    """Item resources for engine messages (a response stored before its input items were kept)."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = str(message.get("role"))
        if role == "tool":
            item = {
                "type": "function_call_output",
                "call_id": str(message.get("tool_call_id")),
                "output": _text(message.get("content")),
                "status": "completed",
            }
            out.append({"id": f"fco_{base}_m{index}", **item})
            continue
        if message.get("content") or not message.get("tool_calls"):
            content = _text(message.get("content"))
            out.append({"id": f"msg_{base}_m{index}", **_message(role, content)})
        for at, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            out.append(
                {
                    "id": f"fc_{base}_m{index}_{at}",
                    "type": "function_call",
                    "call_id": str(call.get("id")),
                    "name": str(function.get("name") or ""),
                    "arguments": str(function.get("arguments") or ""),
                    "status": "completed",
                }
            )
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))


# -- the page ------------------------------------------------------------------------


def item_page(items: list[dict[str, Any]], query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of ``items`` (oldest first) as a ``ResponseItemList``, by the query's parameters.

    ``query`` maps each parameter to the list of its values (``include`` may repeat).
    """
    limit = _limit(query.get("limit"))
    order = _one(query, "order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, f"order: {order!r} is not 'asc' or 'desc'", param="order", code="invalid_value")
    for value in [*query.get("include", []), *query.get("include[]", [])]:
        if value not in INCLUDABLE:
            raise ApiError(
                400,
                f"include: {value!r} is not one of {', '.join(sorted(INCLUDABLE))}",
                param="include",
                code="invalid_value",
            )
    ordered = items if order == "asc" else items[::-1]
    after, before = _one(query, "after"), _one(query, "before")
    start, end = 0, len(ordered)
    if after is not None:
        start = _position(ordered, after, "after") + 1
    if before is not None:
        end = _position(ordered, before, "before")
    window = ordered[start:end]
    if before is not None and after is None:  # the items just before the cursor
        data, has_more = window[-limit:], len(window) > limit
    else:
        data, has_more = window[:limit], len(window) > limit
    return {
        "object": "list",
        "data": data,
        # The spec makes both ids required strings: an empty page (past the last item) has "".
        "first_id": data[0]["id"] if data else "",
        "last_id": data[-1]["id"] if data else "",
        "has_more": has_more,
    }


def _one(query: Mapping[str, Any], name: str) -> str | None:
    values = query.get(name) or []
    if len(values) > 1:
        raise ApiError(400, f"{name}: give it once (it was given {len(values)} times)", param=name)
    return values[0] if values else None


def _limit(values: Any) -> int:
    raw = _one({"limit": values}, "limit")
    if raw is None:
        return 20
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError(
            400, f"limit: {raw!r} is not an integer from 1 to 100", param="limit", code="invalid_value"
        )
    return limit


def _position(items: list[dict[str, Any]], item_id: str, name: str) -> int:
    for at, item in enumerate(items):
        if item["id"] == item_id:
            return at
    raise ApiError(
        400,
        f"{name}: {item_id!r} is not the id of one of this response's input items",
        param=name,
        code="invalid_value",
    )
