"""What every API surface shares: the plan it hands the engine, and the shapes it must provide.

A surface is a thin adapter between one wire format and the engine: it turns
a request body into a :class:`Plan` (an engine :class:`~orchestrator.types.Request`
on a :class:`~orchestrator.proxy.catalog.Target`), and the engine's verdicts
back into its own body, stream events and error shape. Whatever a surface
puts into ``Request.messages`` and ``Request.params`` is what the policy
scans and what members receive; a field it cannot represent there is refused
with a 400 or dropped, never forwarded around the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic_core import to_json
from starlette.responses import Response

from orchestrator.proxy.catalog import Target
from orchestrator.proxy.errors import ApiError
from orchestrator.types import Candidate, Request, Tags, Usage, Verdict

__all__ = [
    "FORBIDDEN",
    "JSON",
    "TOOL_KINDS",
    "Encoder",
    "Plan",
    "Surface",
    "call_signature",
    "check_forbidden",
    "dumps",
    "member_finish",
    "merged_calls",
    "object_body",
    "openai_error",
    "shoal_meta",
    "usage_of",
]

JSON = "application/json"
# Strategies that pick one of the members' answers (and so can return its tool calls); the
# others (fusion, council, debate) write their own answer, which cannot carry them.
TOOL_KINDS = frozenset({"single", "vote", "judge", "cascade"})

# Fields that would point a member elsewhere: never taken from a request, on any surface.
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


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated request and what the engine is asked to do with it.

    ``wire`` is the surface's own parsed request (its model), for rendering the answer.
    """

    target: Target
    request: Request
    wire: Any
    stream: bool = False
    choices: int = 1
    include_usage: bool = False
    caller_tags: Tags | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Encoder(Protocol):
    """The stream events of one answer in a surface's wire format."""

    heartbeat: bytes

    def start(self) -> bytes: ...

    def text(self, text: str, logprobs: dict[str, Any] | None = None) -> bytes:
        """A piece of the answer's text; ``logprobs`` its tokens' (from a member asked directly
        for them, in OpenAI's chat shape), for a format that carries them."""
        ...

    def tool_calls(self, pieces: list[dict[str, Any]]) -> bytes: ...

    async def finish(self, verdict: Verdict, tail: str, calls: list[dict[str, Any]] | None) -> list[bytes]:
        """After the engine's verdict: the text not streamed yet (``tail``), the tool calls not
        streamed yet (``calls``, whole), the finish, usage and metadata, and the stream's end."""
        ...

    def error(self, error: ApiError) -> list[bytes]: ...


class Surface(Protocol):
    """One wire format over the engine (see the module's docstring)."""

    async def plan(self, body: Any) -> Plan: ...

    async def render(self, plan: Plan, verdicts: list[Verdict]) -> dict[str, Any]: ...

    def encoder(self, plan: Plan) -> Encoder: ...

    def error_response(self, error: ApiError) -> Response: ...


def openai_error(error: ApiError) -> Response:
    """An error in OpenAI's shape, with its status and headers (``Retry-After``)."""
    return Response(error.encoded(), status_code=error.status, media_type=JSON, headers=error.headers)


def object_body(body: Any) -> dict[str, Any]:
    """The body as a JSON object, refusing fields that would point a member elsewhere."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    check_forbidden(body)
    return body


def check_forbidden(body: dict[str, Any]) -> None:
    forbidden = sorted(FORBIDDEN.intersection(body))
    if forbidden:
        raise ApiError(
            400,
            f"{forbidden[0]!r} cannot be set through a request: members and their endpoints and keys "
            "come from the server's configuration only",
            param=forbidden[0],
            code="forbidden_parameter",
        )


def merged_calls(pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed tool-call pieces (OpenAI's shape, keyed by ``index``) merged into whole calls.

    >>> merged_calls([{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a'}},
    ...               {"index": 0, "function": {"arguments": '": 1}'}}])
    [{'id': 'c1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{"a": 1}'}}]
    """
    calls: dict[int, dict[str, Any]] = {}
    for piece in pieces:
        call = calls.setdefault(
            int(piece.get("index") or 0),
            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
        )
        if piece.get("id"):
            call["id"] = piece["id"]
        got = piece.get("function") or {}
        call["function"]["name"] += got.get("name") or ""
        call["function"]["arguments"] += got.get("arguments") or ""
    return [call for _, call in sorted(calls.items())]


def call_signature(calls: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """What two lists of tool calls must share to be the same calls: names and argument strings."""
    return [
        (
            str((c.get("function") or {}).get("name") or ""),
            str((c.get("function") or {}).get("arguments") or ""),
        )
        for c in calls or []
    ]


def usage_of(verdicts: list[Verdict]) -> Usage:
    """The verdicts' usage summed (one verdict's own, as is)."""
    if len(verdicts) == 1:
        return verdicts[0].usage
    total = Usage()
    for verdict in verdicts:
        total = total + verdict.usage
    return total


def dumps(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(body, ensure_ascii=False, separators=(",", ":"))``
    writes it (pydantic's serializer, three times as fast on an answer's body)."""
    return to_json(body)


def shoal_meta(verdict: Verdict, *, more: list[Verdict] | None = None) -> dict[str, Any]:
    """The verdict's metadata as the ``shoal`` extension object (standard clients ignore it)."""
    verdicts = [verdict, *(more or [])]
    candidates = [c for v in verdicts for c in v.candidates]
    return {
        "request_id": verdict.request_id,
        "confidence": verdict.confidence,
        "abstained": verdict.abstained,
        "strategy": verdict.strategy,
        "route": verdict.route.model_dump(mode="json") if verdict.route else None,
        "dissent": verdict.dissent,
        "partial": verdict.partial,
        "cached": verdict.cached,
        "sensitivity": verdict.sensitivity,
        "calls": sum(v.calls for v in verdicts),
        "cost_usd": sum(v.cost_usd for v in verdicts),
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
        "tool_calls": c.tool_calls,
        "latency_s": round(c.latency_s, 6),
        "error": c.error.model_dump(mode="json") if c.error else None,
        "usage": {
            "prompt_tokens": c.usage.prompt_tokens,
            "completion_tokens": c.usage.completion_tokens,
            "total_tokens": c.usage.total_tokens,
        },
        "cost_usd": c.cost_usd,
        "attempts": c.attempts,
        "cached": c.cached,
        "replaces": c.replaces,
    }


def member_finish(verdict: Verdict, target: Target) -> str | None:
    """A member's own finish reason (``length``) when it was asked directly, else None."""
    if target.kind != "member":
        return None
    answered = next((c for c in reversed(verdict.candidates) if c.ok), None)
    return answered.finish_reason if answered is not None else None
