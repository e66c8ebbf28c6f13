"""Errors at the HTTP edge, in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

:class:`ApiError` is what a handler raises to answer with an error; the
functions below map everything else onto it in one place:

==========================================  ======  ========================
what went wrong                             status  ``code``
==========================================  ======  ========================
malformed JSON, schema, unsupported param   400     ``invalid_json`` …
an unknown sensitivity label                400     ``unknown_sensitivity``
missing or wrong key                        401     ``invalid_api_key``
the policy forbids the request              403     ``policy_denied``
unknown model                               404     ``model_not_found``
body not JSON, wrong Content-Type           400     ``unsupported_media_type``
a foreign Host or Origin (auth off)         403     ``forbidden_host`` …
head/body not in within its timeout         408     ``request_timeout``
body over ``max_body_bytes``                413     ``request_too_large``
headers over ``max_header_bytes``           431     ``request_header_fields_too_large``
a member asked directly is rate limited     429     ``upstream_rate_limited``
a budget (the request's, the key's daily)   429     ``budget_exceeded``
a key's ``key_requests_per_minute``         429     ``rate_limit_exceeded``
too few members answered                    502     ``quorum_not_met``
``max_concurrent_requests`` reached         503     ``overloaded``
shared state unreachable, failing closed    503     ``state_unavailable``
past ``shutdown_grace_s`` after SIGTERM     503     ``shutting_down``
anything else (a bug)                       500     ``internal_error``
==========================================  ======  ========================
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from orchestrator import errors
from orchestrator.logs import get_logger
from orchestrator.proxy.quota import SENSITIVITY_HEADER, seconds_to_midnight_utc

__all__ = ["ApiError", "from_exception", "from_shoal_error", "from_validation_error", "member_own_error"]


log = get_logger("shoal.proxy")


class ApiError(Exception):
    """An answer with an error status; ``headers`` such as ``Retry-After`` go with it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def encoded(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False).encode()


def from_validation_error(exc: ValidationError, *, prefix: str = "") -> ApiError:
    """The first schema problem, naming the parameter (``messages.0.role``)."""
    first = exc.errors()[0]
    param = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    message = first["msg"]
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a known field"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ApiError(400, f"{param}: {message}{suffix}", param=param or None, code="invalid_value")


def from_exception(exc: BaseException, *, direct: str | None = None) -> ApiError:
    """Any exception out of answering a request, as the status a client can act on.

    Errors raised in a task group (``n > 1``) arrive grouped: the first one Shoal knows
    decides. Anything else is a bug: logged with its traceback, answered 500 without detail.
    """
    if isinstance(exc, BaseExceptionGroup):
        known = [e for e in _leaves(exc) if isinstance(e, ApiError | errors.ShoalError)]
        if known:
            exc = known[0]
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, errors.ShoalError):
        return from_shoal_error(exc, direct=direct)
    log.error("request_failed", error_type=type(exc).__name__, exc_info=exc)
    return ApiError(500, "internal error", type="server_error", code="internal_error")


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out += _leaves(e) if isinstance(e, BaseExceptionGroup) else [e]
    return out


def from_shoal_error(exc: errors.ShoalError, *, direct: str | None = None) -> ApiError:
    """A :class:`ShoalError` raised while answering, as the status a client can act on.

    ``direct`` names the member when the client asked one model directly: its
    upstream's 400 or 429 (with ``Retry-After``) is then passed on as is.
    """
    if isinstance(exc, errors.QuorumError):
        return _quorum(exc, direct)
    if isinstance(exc, errors.EmptyRequestError):
        return ApiError(400, str(exc), param="messages", code="empty_request")
    if isinstance(exc, errors.LimitExceeded):
        return ApiError(
            429,
            str(exc),
            type="rate_limit_error",
            param=exc.limit,
            code="rate_limit_exceeded",
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        )
    if isinstance(exc, errors.StateUnavailable):
        return ApiError(
            503, str(exc), type="server_error", code="state_unavailable", headers={"Retry-After": "1"}
        )
    if isinstance(exc, errors.BudgetExceeded):
        daily = (exc.budget or "").startswith(("key_daily_", "team_daily_"))
        return ApiError(
            429,
            str(exc),
            type="insufficient_quota",
            param=exc.budget,
            code="budget_exceeded",
            headers={"Retry-After": str(seconds_to_midnight_utc())} if daily else None,
        )
    if isinstance(exc, errors.PolicyError):
        return ApiError(403, str(exc), type="permission_error", code="policy_denied")
    if isinstance(exc, errors.ConfigError):
        return ApiError(500, f"server configuration: {exc}", type="server_error", code="config_error")
    if isinstance(exc, errors.UnknownSensitivityError):
        param = exc.where if exc.where == "shoal.sensitivity" else SENSITIVITY_HEADER
        return ApiError(400, str(exc), param=param, code="unknown_sensitivity")
    if isinstance(exc, errors.UsageError):
        return ApiError(400, str(exc), code="invalid_request")
    if isinstance(exc, errors.ModelError):
        return ApiError(500, f"local model: {exc}", type="server_error", code="model_error")
    if isinstance(exc, errors.ProviderError):
        return ApiError(502, str(exc), type="upstream_error", code=exc.kind)
    return ApiError(500, str(exc), type="server_error", code="internal_error")


def _quorum(exc: errors.QuorumError, direct: str | None) -> ApiError:
    """502 with the members' errors summarised; a member asked directly passes on its 400 or 429."""
    error = exc.errors.get(direct) if direct else None
    kind, retry_after = getattr(error, "type", None), getattr(error, "retry_after", None)
    passed = member_own_error(kind, retry_after, str(exc))
    return passed or ApiError(502, str(exc), type="upstream_error", code="quorum_not_met")


def member_own_error(kind: str | None, retry_after: float | None, message: str) -> ApiError | None:
    """A member's own 400 or 429 (its error's ``kind``, and ``retry_after`` for a 429), passed on to
    a client that asked that member directly; ``None`` for any other kind."""
    if kind == errors.RateLimited.kind:
        wait = max(1, math.ceil(retry_after)) if retry_after is not None else 1
        return ApiError(
            429,
            message,
            type="rate_limit_error",
            code="upstream_rate_limited",
            headers={"Retry-After": str(wait)},
        )
    if kind == errors.BadRequestError.kind:
        return ApiError(400, message, code="upstream_bad_request")
    return None
