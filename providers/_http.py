"""HTTP helpers shared by the HTTP-speaking providers.

Maps an upstream HTTP status (plus headers and body) onto Shoal's error tree,
parses ``Retry-After``, and reads the pieces of OpenAI-shaped payloads that
both :mod:`providers.openai_compat` and :mod:`providers.litellm` need.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from orchestrator.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
    TruncatedStream,
)
from orchestrator.types import Member, Usage

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "api_key_from_env",
    "error_class_for_status",
    "error_from_httpx",
    "merge_tool_call_deltas",
    "parse_retry_after",
    "retry_after_from_headers",
    "upstream_failure",
    "upstream_message",
    "usage_from",
]

DEFAULT_TIMEOUT_S = 60.0
"""Per-call timeout when a member sets no ``timeout_s``."""


def api_key_from_env(member: Member) -> str | None:
    """The key in the variable the member names in ``api_key_env``; ``None`` if it names none."""
    if not member.api_key_env:
        return None
    key = os.environ.get(member.api_key_env)
    if not key:
        raise ConfigError(
            f"member {member.name!r} reads its API key from ${member.api_key_env}, which is not set",
            key=f"members.{member.name}.api_key_env",
        )
    return key


def error_class_for_status(status: int) -> type[ProviderError]:
    """The error class for an HTTP status the upstream answered with."""
    if status == 429:
        return RateLimited
    if status >= 500 or status in (408, 409):
        return ServerError
    if status in (401, 403):
        return AuthenticationError
    if 400 <= status < 500:
        return BadRequestError
    return ProviderError


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """``retry-after-ms`` (OpenAI's precise form) or ``Retry-After``, in seconds."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = parse_retry_after(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    return parse_retry_after(lowered.get("retry-after"))


def upstream_message(body: bytes | str) -> str | None:
    """The error *code* an OpenAI-style server put in its JSON body (``context_length_exceeded``),
    if it is a plain identifier; never its free text, which may echo the member's key, the
    prompt or internal addresses back to whoever reads Shoal's error."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    error = data.get("error", data) if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and _CODE.fullmatch(value):
            return value
    return None


_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
_PHRASES: dict[type[ProviderError], str] = {
    RateLimited: "rate limited by the upstream",
    AuthenticationError: "the upstream refused the member's credentials",
    BadRequestError: "the upstream rejected the request",
    ServerError: "the upstream failed",
}


def upstream_failure(
    where: str, cls: type[ProviderError], status: int | None, code: str | None = None
) -> str:
    """The safe message of an upstream's error: who, the status, what it means, its error code.

    >>> upstream_failure("openai_compat m", RateLimited, 429, "rate_limit_exceeded")
    'openai_compat m: HTTP 429: rate limited by the upstream (rate_limit_exceeded)'
    """
    phrase = _PHRASES.get(cls, "the upstream answered with an error")
    shown = f"HTTP {status}: " if status else ""
    return f"{where}: {shown}{phrase}" + (f" ({code})" if code else "")


def error_from_httpx(exc: httpx.HTTPError, *, provider: str, model: str) -> ProviderError:
    """The one place an httpx error becomes a :class:`ProviderError`.

    A status error must carry a response whose body was read. The message names the member's
    provider and model, the status and a fixed phrase, never the upstream's own text nor the
    address connected to.
    """
    where = f"{provider} {model}"
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        status = response.status_code
        cls = error_class_for_status(status)
        return cls(
            upstream_failure(where, cls, status, upstream_message(response.content)),
            provider=provider,
            model=model,
            status=status,
            retry_after=retry_after_from_headers(response.headers),
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"{where}: timed out ({type(exc).__name__})", provider=provider, model=model)
    if isinstance(exc, httpx.RemoteProtocolError):
        return TruncatedStream(
            f"{where}: the upstream closed the connection mid-response", provider=provider, model=model
        )
    if isinstance(exc, httpx.TransportError):
        return ProviderConnectionError(
            f"{where}: connection failed ({type(exc).__name__})", provider=provider, model=model
        )
    return ProviderError(f"{where}: {type(exc).__name__}", provider=provider, model=model)


def usage_from(raw: Any) -> Usage | None:
    """A :class:`Usage` from an OpenAI ``usage`` object or dict; ``None`` if absent."""
    if raw is None:
        return None
    prompt = int(_field(raw, "prompt_tokens") or 0)
    completion = int(_field(raw, "completion_tokens") or 0)
    total = int(_field(raw, "total_tokens") or prompt + completion)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _field(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, Mapping) else getattr(raw, key, None)


def merge_tool_call_deltas(into: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    """Accumulate streamed ``tool_calls`` pieces (keyed by ``index``) into whole calls."""
    for delta in deltas:
        call = into.setdefault(
            int(delta.get("index") or 0), {"type": "function", "function": {"name": "", "arguments": ""}}
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
