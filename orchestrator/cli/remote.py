"""``shoal ask --url``: the question put to a running ``shoal serve``, its answer as a Verdict.

The server already has its models loaded, so repeated questions skip the load. The
request is a plain chat completion with the verdict's metadata in the ``shoal``
extension object; what is sent (the question, the tags) passes the server's policy
like any client's request.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import (
    BudgetExceeded,
    PolicyError,
    QuorumError,
    ShoalError,
    UsageError,
)
from orchestrator.types import Candidate, CandidateError, Route, Usage, Verdict

__all__ = ["ask_server"]


def ask_server(
    url: str, api_key: str | None, question: str, *, strategy: str | None, tags: dict[str, Any]
) -> Verdict:
    import httpx

    base = url.rstrip("/").removesuffix("/v1")
    body = {
        "model": f"shoal/{strategy}" if strategy else "shoal/auto",
        "messages": [{"role": "user", "content": question}],
        "shoal": {k: v for k, v in tags.items() if v is not None},
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=None)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach {base} ({exc}); is `shoal serve` running there?") from None
    try:
        data = response.json()
    except ValueError:
        raise UsageError(
            f"{base} answered {response.status_code} without JSON; is it a `shoal serve`?"
        ) from None
    if response.status_code != 200:
        raise _error(base, response.status_code, data)
    return _verdict(data, base)


def _error(base: str, status: int, data: Any) -> ShoalError:
    error = data.get("error", {}) if isinstance(data, dict) else {}
    message = f"{base}: {error.get('message') or f'HTTP {status}'}"
    if status == 401:
        return UsageError(f"{message}; pass --api-key or set SHOAL_API_KEY")
    if status == 404:
        return UsageError(f"{message}; the server's strategies are listed at {base}/v1/models")
    kinds: dict[int, type[ShoalError]] = {403: PolicyError, 429: BudgetExceeded, 502: QuorumError}
    return kinds.get(status, UsageError)(message)


def _verdict(data: dict[str, Any], base: str) -> Verdict:
    meta = data.get("shoal") or {}
    usage = data.get("usage") or {}
    route = meta.get("route")
    return Verdict(
        answer=data["choices"][0]["message"].get("content") or "",
        confidence=meta.get("confidence", 0.0),
        abstained=meta.get("abstained", False),
        strategy=meta.get("strategy", "?"),
        route=Route.model_validate(route) if route else None,
        candidates=[_candidate(c) for c in meta.get("candidates", [])],
        dissent=meta.get("dissent", ""),
        usage=_usage(usage),
        cost_usd=meta.get("cost_usd", 0.0),
        latency_s=meta.get("latency_s", 0.0),
        calls=meta.get("calls", 0),
        partial=meta.get("partial", False),
        request_id=meta.get("request_id"),
        sensitivity=meta.get("sensitivity", []),
        notes=[f"answered by {base} ({data.get('model', 'shoal/auto')})"],
    )


def _usage(body: dict[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=body.get("prompt_tokens", 0),
        completion_tokens=body.get("completion_tokens", 0),
        total_tokens=body.get("total_tokens", 0),
    )


def _candidate(c: dict[str, Any]) -> Candidate:
    error = c.get("error")
    return Candidate(
        member=c["member"],
        model=c.get("model", ""),
        role=c.get("role", "answer"),
        text=c.get("answer"),
        usage=_usage(c.get("usage") or {}),
        cost_usd=c.get("cost_usd", 0.0),
        latency_s=c.get("latency_s", 0.0),
        attempts=c.get("attempts", 1),
        cached=c.get("cached", False),
        error=CandidateError.model_validate(
            {k: error.get(k) for k in ("type", "message", "status", "retry_after")}
        )
        if error
        else None,
        replaces=c.get("replaces"),
    )


def _candidate_error(error: dict[str, Any]) -> CandidateError:
    return CandidateError.model_validate(
        {k: error.get(k) for k in ("type", "message", "status", "retry_after")}
    )
