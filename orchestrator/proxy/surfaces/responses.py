"""``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}``, ``.../{id}/input_items``: Responses API.

Where the policy sees each field (all of it goes into the one engine
:class:`~orchestrator.types.Request` that ``Gatekeeper.clear`` scans):

- ``input`` (a string, or message / ``function_call`` / ``function_call_output``
  items) and the stored conversation of ``previous_response_id`` become
  ``Request.messages``; ``instructions`` a system message at their head;
- ``tools`` (function tools) and ``tool_choice`` become ``params["tools"]`` and
  ``params["tool_choice"]``, ``text.format`` ``params["response_format"]``,
  ``max_output_tokens`` ``params["max_tokens"]``, ``temperature``/``top_p`` as is;
- ``metadata`` and ``user`` are kept with the response, never sent to a member.

Other item and tool types (files, web search, reasoning items, ...) are a 400
naming them: nothing is forwarded that the engine request cannot carry.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orchestrator.proxy.errors import ApiError, from_validation_error
from orchestrator.proxy.surfaces.base import (
    TOOL_KINDS,
    Plan,
    dumps,
    member_finish,
    object_body,
    openai_error,
    shoal_meta,
)
from orchestrator.proxy.surfaces.responses_input import ResponsesRequest, TextOptions, to_request, unsupported
from orchestrator.proxy.surfaces.responses_items import item_page, items_of_input, items_of_messages
from orchestrator.types import Usage, Verdict

if TYPE_CHECKING:
    from starlette.requests import Request as HttpRequest
    from starlette.responses import Response

    from orchestrator.proxy.app import Proxy

__all__ = ["ResponsesEncoder", "ResponsesRequest", "ResponsesSurface", "to_request"]


# -- the response --------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if status == "completed"
        else []
    )
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.get("id") or item_id,
        "name": function.get("name") or "",
        "arguments": (function.get("arguments") or "") if status == "completed" else "",
        "status": status,
    }


def response_body(
    response_id: str,
    created: int,
    plan: Plan,
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    verdict: Verdict | None = None,
) -> dict[str, Any]:
    wire: ResponsesRequest = plan.wire
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "completed_at": int(time.time()) if status in ("completed", "incomplete") else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": wire.instructions,
        "max_output_tokens": wire.max_output_tokens,
        "model": plan.target.id,
        "output": output,
        "parallel_tool_calls": wire.parallel_tool_calls if wire.parallel_tool_calls is not None else True,
        "previous_response_id": wire.previous_response_id,
        "reasoning": {"effort": None, "summary": None},
        "store": wire.store,
        "temperature": wire.temperature if wire.temperature is not None else 1.0,
        "top_p": wire.top_p if wire.top_p is not None else 1.0,
        "text": {"format": _echo_format(wire.text)},
        "tool_choice": wire.tool_choice if wire.tool_choice is not None else "auto",
        "tools": [_echo_tool(t) for t in wire.tools or []],
        "truncation": "disabled",
        "metadata": wire.metadata or {},
    }
    if wire.user is not None:
        body["user"] = wire.user
    if verdict is not None:
        body["usage"] = usage_body(verdict.usage)
        body["shoal"] = shoal_meta(verdict)
    return body


def _echo_format(text: TextOptions | None) -> dict[str, Any]:
    fmt = text.format if text is not None else None
    if fmt is None:
        return {"type": "text"}
    return fmt.model_dump(by_alias=True, exclude_none=True)


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict", True),
    }


def status_of(verdict: Verdict, plan: Plan) -> str:
    return (
        "incomplete"
        if member_finish(verdict, plan.target) == "length" and not verdict.tool_calls
        else "completed"
    )


def output_of(verdict: Verdict, base: str) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if verdict.answer or not verdict.tool_calls:
        output.append(message_item("msg_" + base, verdict.answer))
    for index, call in enumerate(verdict.tool_calls or []):
        output.append(call_item(f"fc_{base}_{index}", call))
    return output


def assistant_turn(output: list[dict[str, Any]]) -> dict[str, Any]:
    """The output as the engine message a later turn (``previous_response_id``) continues from."""
    text = "".join(p["text"] for i in output if i["type"] == "message" for p in i["content"])
    calls = [
        {"id": i["call_id"], "type": "function", "function": {"name": i["name"], "arguments": i["arguments"]}}
        for i in output
        if i["type"] == "function_call"
    ]
    turn: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        turn["tool_calls"] = calls
    return turn


def history_of(plan: Plan) -> list[dict[str, Any]]:
    """The conversation to store: this request's messages without its instructions."""
    messages = plan.request.messages
    if plan.wire.instructions and messages and messages[0].role == "system":
        messages = messages[1:]
    return [m.model_dump(exclude_none=True) for m in messages]


def stored_input_items(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored response's input items (for one stored before they were kept: from its messages,
    all but the last, which is its own output)."""
    if "input_items" in stored:
        return list(stored["input_items"])
    return items_of_messages(stored["messages"][:-1], stored["response"]["id"].removeprefix("resp_"))


def _base(plan: Plan) -> str:
    return plan.request.request_id.removeprefix("req_")


class ResponsesEncoder:
    """The Responses API's events: ``response.created``, ``response.in_progress``, then per output
    item ``output_item.added``, its deltas (``output_text.delta`` or
    ``function_call_arguments.delta``) and ``.done`` events, and ``response.completed``."""

    heartbeat = b": keep-alive\n\n"

    def __init__(self, surface: ResponsesSurface, plan: Plan) -> None:
        self.surface = surface
        self.plan = plan
        self.base = _base(plan)
        self.response_id = "resp_" + self.base
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self._message: dict[str, Any] | None = None  # the message item being streamed
        self.calls: dict[int, dict[str, Any]] = {}  # function_call items being streamed, by index

    def _event(self, kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + dumps(body) + b"\n\n"

    def start(self) -> bytes:
        shell = response_body(self.response_id, self.created, self.plan, [], status="in_progress")
        return self._event("response.created", response=shell) + self._event(
            "response.in_progress", response=shell
        )

    def text(self, text: str, logprobs: dict[str, Any] | None = None) -> bytes:
        # the Responses surface never asks a member for log-probabilities: its deltas carry []
        out = bytearray()
        if self._message is None:
            out += self._close_calls()
            item = message_item(f"msg_{self.base}_{len(self.output)}", "", status="in_progress")
            self._message = {"item": item, "index": len(self.output), "parts": []}
            self.output.append(item)
            out += self._event("response.output_item.added", output_index=self._message["index"], item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._message["index"],
                content_index=0,
                part=part,
            )
        self._message["parts"].append(text)
        out += self._event(
            "response.output_text.delta",
            item_id=self._message["item"]["id"],
            output_index=self._message["index"],
            content_index=0,
            delta=text,
            logprobs=[],
        )
        return bytes(out)

    def _close_text(self) -> bytes:
        if self._message is None:
            return b""
        state, self._message = self._message, None
        text = "".join(state["parts"])
        item_id, index = state["item"]["id"], state["index"]
        done = message_item(item_id, text)
        self.output[index] = done
        part = done["content"][0]
        return (
            self._event(
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            + self._event(
                "response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=part
            )
            + self._event("response.output_item.done", output_index=index, item=done)
        )

    def tool_calls(self, pieces: list[dict[str, Any]]) -> bytes:
        out = bytearray(self._close_text())
        for piece in pieces:
            at = int(piece.get("index") or 0)
            function = piece.get("function") or {}
            state = self.calls.get(at)
            if state is None:
                call = {
                    "id": piece.get("id"),
                    "function": {"name": function.get("name") or "", "arguments": ""},
                }
                item = call_item(f"fc_{self.base}_{at}", call, status="in_progress")
                state = self.calls[at] = {"item": item, "index": len(self.output), "arguments": []}
                self.output.append(item)
                out += self._event("response.output_item.added", output_index=state["index"], item=item)
            elif function.get("name"):
                state["item"]["name"] += function["name"]
            if function.get("arguments"):
                state["arguments"].append(function["arguments"])
                out += self._event(
                    "response.function_call_arguments.delta",
                    item_id=state["item"]["id"],
                    output_index=state["index"],
                    delta=function["arguments"],
                )
        return bytes(out)

    def _close_calls(self) -> bytes:
        out = bytearray()
        for state in self.calls.values():
            item = state["item"]
            arguments = "".join(state["arguments"])
            done = {**item, "arguments": arguments, "status": "completed"}
            self.output[state["index"]] = done
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=state["index"],
                name=item["name"],
                arguments=arguments,
            )
            out += self._event("response.output_item.done", output_index=state["index"], item=done)
        self.calls = {}
        return bytes(out)

    async def finish(self, verdict: Verdict, tail: str, calls: list[dict[str, Any]] | None) -> list[bytes]:
        parts = []
        if tail or (not self.output and not calls and not verdict.tool_calls):
            parts.append(self.text(tail))
        parts.append(self._close_text())
        if calls:
            parts.append(self.tool_calls([{"index": len(self.calls) + i, **c} for i, c in enumerate(calls)]))
        parts.append(self._close_calls())
        body = response_body(
            self.response_id,
            self.created,
            self.plan,
            self.output,
            status=status_of(verdict, self.plan),
            verdict=verdict,
        )
        await self.surface.keep(self.plan, body)
        kind = "response.completed" if body["status"] == "completed" else "response.incomplete"
        parts.append(self._event(kind, response=body))
        return parts

    def error(self, error: ApiError) -> list[bytes]:
        failed = response_body(self.response_id, self.created, self.plan, self.output, status="failed")
        failed["error"] = {"code": "server_error", "message": error.message}
        return [
            self._event("error", code=error.code, message=error.message, param=error.param),
            self._event("response.failed", response=failed),
        ]


class ResponsesSurface:
    """The Responses API of one proxy, with its store of responses."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    async def plan(self, body: Any) -> Plan:
        body = object_body(body)
        try:
            wire = ResponsesRequest.model_validate(body)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        if wire.background:
            raise unsupported("background", "background responses")
        target = self.proxy.target(wire.model)
        if wire.tools and target.kind != "member" and target.kinds - TOOL_KINDS:
            raise ApiError(
                400,
                f"'tools': {target.id} may end in a written answer that cannot carry tool calls; use a vote, "
                "judge or single strategy, or a member's name as the model",
                param="tools",
                code="unsupported_parameter",
            )
        history: list[dict[str, Any]] = []
        carried: list[dict[str, Any]] = []
        if wire.previous_response_id:
            stored = await self.proxy.responses.get(wire.previous_response_id)
            if stored is None:
                raise ApiError(
                    404,
                    f"previous_response_id: no stored response {wire.previous_response_id!r} (it was never "
                    "stored, or was deleted); send the whole conversation as input instead",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            history = stored["messages"]
            carried = [*stored_input_items(stored), *stored["response"]["output"]]
        return Plan(
            target=target,
            request=to_request(wire, history),
            wire=wire,
            stream=wire.stream,
            caller_tags=wire.shoal,
            extra={"carried_items": carried},
        )

    async def render(self, plan: Plan, verdicts: list[Verdict]) -> dict[str, Any]:
        verdict = verdicts[0]
        base = _base(plan)
        body = response_body(
            "resp_" + base,
            int(time.time()),
            plan,
            output_of(verdict, base),
            status=status_of(verdict, plan),
            verdict=verdict,
        )
        await self.keep(plan, body)
        return body

    async def keep(self, plan: Plan, body: dict[str, Any]) -> None:
        """Store the response (``store``, the default): its conversation for ``previous_response_id``."""
        if plan.wire.store:
            messages = [*history_of(plan), assistant_turn(body["output"])]
            carried = plan.extra.get("carried_items", [])
            items = [*carried, *items_of_input(plan.wire.input, _base(plan), {i["id"] for i in carried})]
            await self.proxy.responses.put(
                body["id"], {"response": body, "messages": messages, "input_items": items}
            )

    def encoder(self, plan: Plan) -> ResponsesEncoder:
        return ResponsesEncoder(self, plan)

    def error_response(self, error: ApiError) -> Response:
        return openai_error(error)

    # -- GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items -----------

    async def _stored(self, request: HttpRequest) -> dict[str, Any]:
        """The stored response the path names, for a caller with one of the server's keys."""
        self.proxy.authorize(request)
        stored = await self.proxy.responses.get(request.path_params["response_id"])
        if stored is None:
            raise self._missing(request.path_params["response_id"])
        return stored

    async def retrieve(self, request: HttpRequest) -> Response:
        from starlette.responses import Response

        try:
            stored = await self._stored(request)
        except ApiError as exc:
            return openai_error(exc)
        return Response(dumps(stored["response"]), media_type="application/json")

    async def input_items(self, request: HttpRequest) -> Response:
        """The items the response was created from (see :mod:`.responses_items`), one page."""
        from starlette.responses import Response

        try:
            stored = await self._stored(request)
            query = {key: request.query_params.getlist(key) for key in request.query_params}
            page = item_page(stored_input_items(stored), query)
        except ApiError as exc:
            return openai_error(exc)
        return Response(dumps(page), media_type="application/json")

    async def delete(self, request: HttpRequest) -> Response:
        from starlette.responses import Response

        response_id = request.path_params["response_id"]
        try:
            self.proxy.authorize(request)
            if not await self.proxy.responses.delete(response_id):
                raise self._missing(response_id)
        except ApiError as exc:
            return openai_error(exc)
        body = {"id": response_id, "object": "response.deleted", "deleted": True}
        return Response(dumps(body), media_type="application/json")

    @staticmethod
    def _missing(response_id: str) -> ApiError:
        return ApiError(404, f"no stored response {response_id!r}", param="response_id", code="not_found")
