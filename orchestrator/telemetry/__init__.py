"""Traces of what the panel did: a span per request, per round of calls, per member call.

Off by default. ``[telemetry] otlp_endpoint`` (or the standard
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``) turns it
on; only then is :mod:`orchestrator.telemetry.otel`, and with it OpenTelemetry,
imported. This module imports nothing of OpenTelemetry: with tracing off every
hook is a call on :data:`NO_TRACER`, whose spans do nothing.

The tree of one request::

    invoke_agent shoal/vote            the request: route, policy, confidence, cluster, cost
      shoal.round answer               one fan-out (Panel.ask) or one lone call (a judge)
        chat gpt-4o-mini               one member call (GenAI semantic conventions)
          attempt 1                    each try of it (a retried 429 shows two)

Content (``gen_ai.input.messages``, ``gen_ai.output.messages``, the answers'
keys and the verdict's notes) is recorded only when ``capture_content = true``
AND the request has no sensitivity (no caller label, no rule, no detector
finding): a trace exporter is a destination like any other, and the policy
decides what leaves. Everything else on a span is metadata: names, models,
roles, token counts, costs, timings, error types.

>>> tracer_for(TelemetryConfig(), env={}) is NO_TRACER
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextvars import Context
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.sovereignty.policy import Admission, Clearance
    from orchestrator.types import Candidate, Member, Request, Route, Verdict

__all__ = ["NO_SPAN", "NO_TRACER", "Span", "TelemetryConfig", "Tracer", "endpoint_of", "tracer_for"]

TRACES_PATH = "/v1/traces"


class TelemetryConfig(BaseModel):
    """``[telemetry]``: where traces go (OTLP over HTTP/protobuf) and whether content is recorded."""

    model_config = ConfigDict(extra="forbid")

    otlp_endpoint: str | None = None  # e.g. "http://127.0.0.1:4318"; /v1/traces is added
    capture_content: bool = False  # prompts and answers; never for a request with a sensitivity
    service_name: str | None = None  # default: OTEL_SERVICE_NAME, else "shoal"
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. an authorization header
    timeout_s: float = Field(default=10.0, gt=0)


def endpoint_of(config: TelemetryConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The URL traces are posted to, or None when tracing is off.

    ``otlp_endpoint`` first, then ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it is),
    then ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL: ``/v1/traces`` is added, as the
    OTLP exporter specification says). ``OTEL_SDK_DISABLED=true`` turns tracing off.

    >>> endpoint_of(TelemetryConfig(otlp_endpoint="http://127.0.0.1:4318/"), env={})
    'http://127.0.0.1:4318/v1/traces'
    >>> endpoint_of(TelemetryConfig(), env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:1/t"})
    'http://h:1/t'
    """
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if config.otlp_endpoint:
        return _with_traces_path(config.otlp_endpoint)
    if signal := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return signal
    if base := env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return _with_traces_path(base)
    return None


def _with_traces_path(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if url.endswith(TRACES_PATH) else url + TRACES_PATH


class Span:
    """A span that records nothing (tracing off); the OpenTelemetry one overrides each method.

    It is its own context manager, so ``with tracer.call(...) as span`` costs nothing when off.
    """

    def __enter__(self) -> Span:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def routed(self, route: Route, admission: Admission) -> None:
        """The request's route and the members the policy admitted (and excluded, and why)."""

    def done(self, verdict: Verdict) -> None:
        """The request's outcome: confidence, abstention, the winning cluster, calls, cost."""

    def finished(self, candidate: Candidate) -> None:
        """A member call's outcome: the response model, finish reason, tokens, cost, error."""

    def end(self, pending: int = 0) -> None:
        """End a round started by :meth:`Tracer.fanout`; ``pending`` calls were still running."""


NO_SPAN = Span()


class Tracer:
    """Makes the spans; this one makes none (tracing off)."""

    enabled = False

    def request(self, request: Request, clearance: Clearance) -> Span:
        """The span of one request, current while the ``with`` block runs."""
        return NO_SPAN

    def round(self, role: str, members: Sequence[Member]) -> Span:
        """The span of a lone call (a judge, an aggregator); inside a fan-out it is the fan-out's."""
        return NO_SPAN

    def fanout(self, role: str, members: Sequence[Member]) -> tuple[Span, Context | None]:
        """A started round span, and a copy of the current context in which it is the parent
        (the fan-out's tasks run in it); the caller ends the span with :meth:`Span.end`."""
        return NO_SPAN, None

    def call(
        self,
        member: Member,
        role: str,
        sample_index: int,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        replaces: str | None = None,
    ) -> Span:
        """The span of one call to one member (every try, the cache, the breaker)."""
        return NO_SPAN

    def attempt(self, number: int) -> Span:
        """The span of one try of a call (a retry is the next number)."""
        return NO_SPAN

    def asgi(self, app: Any) -> Any:
        """``app`` behind a middleware that continues an incoming W3C ``traceparent``."""
        return app

    async def aclose(self) -> None:
        """Send what is buffered and stop the exporter (tracing starts afresh on the next span)."""


NO_TRACER = Tracer()


def tracer_for(config: TelemetryConfig, env: Mapping[str, str] | None = None) -> Tracer:
    """:data:`NO_TRACER` unless an endpoint is configured; then the OpenTelemetry tracer."""
    endpoint = endpoint_of(config, env)
    if endpoint is None:
        return NO_TRACER
    try:
        from orchestrator.telemetry.otel import OtelTracer
    except ImportError:
        raise ConfigError(
            "an OTLP endpoint is set but OpenTelemetry is not installed;"
            " pip install 'shoal[telemetry]', or unset the endpoint",
            source="[telemetry] otlp_endpoint / OTEL_EXPORTER_OTLP_ENDPOINT",
        ) from None
    return OtelTracer(config, endpoint=endpoint)
