"""The tracer, on the OpenTelemetry SDK: spans exported over OTLP/HTTP (protobuf) in batches.

Imported only when an endpoint is configured (``pip install 'shoal[telemetry]'``).
Each :class:`OtelTracer` owns its ``TracerProvider`` (a global one would be
shared with, and reconfigured by, whatever else runs in the process); a test
passes its own ``provider`` (an in-memory exporter behind it).

Member calls follow the GenAI semantic conventions (span ``chat {model}``,
``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.*``,
``gen_ai.response.*``, ``gen_ai.usage.*``, ``error.type``); the request is an
``invoke_agent shoal/{strategy}`` span; Shoal's own attributes are ``shoal.*``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from orchestrator.errors import BudgetExceeded, PolicyError, ProviderError
from orchestrator.telemetry import Span, TelemetryConfig, Tracer

if TYPE_CHECKING:
    from orchestrator.sovereignty.policy import Admission, Clearance
    from orchestrator.types import Candidate, Member, Request, Route, Verdict

__all__ = ["OtelTracer"]

# Whether the current request may have its content recorded (set by its request span).
_CONTENT: contextvars.ContextVar[bool] = contextvars.ContextVar("shoal_trace_content", default=False)
# Set inside a fan-out's tasks: their calls belong to the fan-out's round span.
_IN_FANOUT: contextvars.ContextVar[bool] = contextvars.ContextVar("shoal_trace_fanout", default=False)

_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


def _shoal_version() -> str:
    try:
        return version("shoal")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class OtelTracer(Tracer):
    """Spans for requests, rounds, member calls and their tries, sent to ``endpoint``."""

    enabled = True

    def __init__(
        self,
        config: TelemetryConfig,
        *,
        endpoint: str | None = None,
        provider: TracerProvider | None = None,
    ) -> None:
        self.config = config
        self.endpoint = endpoint
        self._injected = provider is not None
        self._provider = provider
        self._tracer: trace.Tracer | None = None

    # -- the provider (made on first use, so a closed tracer starts afresh) -------------

    def _otel(self) -> trace.Tracer:
        if self._tracer is None:
            if self._provider is None:
                self._provider = self._new_provider()
            self._tracer = self._provider.get_tracer("shoal", _shoal_version())
        return self._tracer

    def _new_provider(self) -> TracerProvider:
        import os

        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        name = self.config.service_name or os.environ.get("OTEL_SERVICE_NAME") or "shoal"
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        exporter = OTLPSpanExporter(
            endpoint=self.endpoint,
            headers=dict(self.config.headers) or None,  # None: OTEL_EXPORTER_OTLP_HEADERS applies
            timeout=self.config.timeout_s,
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return provider

    async def aclose(self) -> None:
        provider = self._provider
        if provider is None:
            return
        timeout_ms = int(self.config.timeout_s * 1000)
        # The exporter posts over blocking HTTP: off the event loop.
        await asyncio.to_thread(provider.force_flush, timeout_ms)
        if not self._injected:
            self._provider = self._tracer = None
            await asyncio.to_thread(provider.shutdown)

    # -- spans ----------------------------------------------------------------------------

    def request(self, request: Request, clearance: Clearance) -> _RequestSpan:
        content = self.config.capture_content and not clearance.sensitivity
        span = self._otel().start_span(
            "invoke_agent shoal",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "shoal.request_id": request.request_id,
                "shoal.sensitivity": list(clearance.sensitivity),
                "shoal.sensitivity.reasons": [
                    f"{level}: {', '.join(why)}" for level, why in clearance.levels.items()
                ],
                "shoal.content_recorded": content,
            },
        )
        if content:
            span.set_attribute("gen_ai.input.messages", _input_messages(request.wire_messages()))
        return _RequestSpan(span, content)

    def round(self, role: str, members: Sequence[Member]) -> Span:
        if _IN_FANOUT.get():
            return _NOTHING
        return _Current(self._round_span(role, members, "call"))

    def fanout(self, role: str, members: Sequence[Member]) -> tuple[Span, contextvars.Context]:
        span = self._round_span(role, members, "fanout")
        context = contextvars.copy_context()
        context.run(_enter_fanout, span)
        return _Round(span), context

    def _round_span(self, role: str, members: Sequence[Member], kind: str) -> trace.Span:
        return self._otel().start_span(
            f"shoal.round {role}",
            attributes={
                "shoal.role": role,
                "shoal.round.kind": kind,
                "shoal.round.members": [m.name for m in members],
            },
        )

    def call(
        self,
        member: Member,
        role: str,
        sample_index: int,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        replaces: str | None = None,
    ) -> _CallSpan:
        merged = {**member.params, **params}
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": member.vendor or member.provider,
            "gen_ai.request.model": member.model,
            "shoal.member": member.name,
            "shoal.provider": member.provider,
            "shoal.role": role,
            "shoal.sample_index": sample_index,
            "shoal.failover": replaces is not None,
        }
        for key, name in _REQUEST_PARAMS.items():
            value = merged.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[name] = value
        if isinstance(merged.get("stop"), str | list):
            stop = merged["stop"]
            attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if replaces is not None:
            attributes["shoal.replaces"] = replaces
        content = _CONTENT.get()
        if content:
            attributes["gen_ai.input.messages"] = _input_messages(messages)
        span = self._otel().start_span(f"chat {member.model}", kind=SpanKind.CLIENT, attributes=attributes)
        return _CallSpan(span, content)

    def attempt(self, number: int) -> Span:
        return _Current(self._otel().start_span(f"attempt {number}", attributes={"shoal.attempt": number}))

    def asgi(self, app: Any) -> Any:
        from orchestrator.telemetry.asgi import TraceContextMiddleware

        return TraceContextMiddleware(app, self._otel)


def _enter_fanout(span: trace.Span) -> None:
    """Run inside the fan-out's copied context: the round is the parent of its tasks' spans."""
    otel_context.attach(trace.set_span_in_context(span))
    _IN_FANOUT.set(True)


class _Nothing(Span):
    pass


_NOTHING = _Nothing()


class _Current(Span):
    """A span that is the current one while its ``with`` block runs, and ends with it."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self._token: object | None = None

    def __enter__(self) -> _Current:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None:
                _failed(self.span, exc)
        finally:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            self.span.end()


class _RequestSpan(_Current):
    """The request: a fan-out inside it (a nested orchestrator's) starts outside any round."""

    def __init__(self, span: trace.Span, content: bool) -> None:
        super().__init__(span)
        self.content = content
        self._scope: list[contextvars.Token[bool]] = []

    def __enter__(self) -> _RequestSpan:
        super().__enter__()
        self._scope = [_CONTENT.set(self.content), _IN_FANOUT.set(False)]
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        content, fanout = self._scope
        _IN_FANOUT.reset(fanout)
        _CONTENT.reset(content)
        if isinstance(exc, PolicyError):
            self.span.set_attributes({"shoal.policy.decision": "refused", "shoal.policy.reason": str(exc)})
        elif isinstance(exc, BudgetExceeded):
            self.span.set_attribute("shoal.budget", exc.budget or "")
        super().__exit__(exc_type, exc, tb)

    def routed(self, route: Route, admission: Admission) -> None:
        self.span.update_name(f"invoke_agent shoal/{route.strategy}")
        self.span.set_attributes(
            {
                "gen_ai.agent.name": f"shoal/{route.strategy}",
                "shoal.strategy": route.strategy,
                "shoal.route.category": route.category,
                "shoal.route.team": route.team or "",
                "shoal.route.reason": route.reason,
                "shoal.policy.decision": "admitted",
                "shoal.policy.admitted": [m.name for m in admission.members],
                "shoal.policy.spares": [m.name for m in admission.spares],
                "shoal.policy.excluded": [f"{name}: {why}" for name, why in admission.excluded.items()],
            }
        )

    def done(self, verdict: Verdict) -> None:
        attributes: dict[str, Any] = {
            "shoal.confidence": verdict.confidence,
            "shoal.abstained": verdict.abstained,
            "shoal.partial": verdict.partial,
            "shoal.calls": verdict.calls,
            "shoal.cost_usd": verdict.cost_usd,
            "shoal.latency_s": verdict.latency_s,
            "shoal.clusters": len(verdict.clusters),
            "gen_ai.usage.input_tokens": verdict.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": verdict.usage.completion_tokens,
        }
        winner = next((c for c in verdict.clusters if c.answer == verdict.answer), None)
        if winner is not None:
            attributes["shoal.cluster.members"] = list(winner.members)
            attributes["shoal.cluster.weight"] = winner.weight
        if self.content:
            if winner is not None and winner.key is not None:
                attributes["shoal.cluster.key"] = winner.key
            attributes["shoal.notes"] = list(verdict.notes)
            attributes["shoal.dissent"] = verdict.dissent
            attributes["gen_ai.output.messages"] = _output_messages(verdict.answer, "stop", None)
        self.span.set_attributes(attributes)


class _CallSpan(_Current):
    def __init__(self, span: trace.Span, content: bool) -> None:
        super().__init__(span)
        self.content = content

    def finished(self, candidate: Candidate) -> None:
        span = self.span
        span.set_attributes(
            {
                "gen_ai.response.model": candidate.model,
                "gen_ai.usage.input_tokens": candidate.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": candidate.usage.completion_tokens,
                "shoal.attempts": candidate.attempts,
                "shoal.cached": candidate.cached,
                "shoal.cost_usd": candidate.cost_usd,
                "shoal.latency_s": candidate.latency_s,
            }
        )
        if candidate.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [candidate.finish_reason])
        if candidate.error is not None:
            span.set_attribute("error.type", candidate.error.type)
            if candidate.error.status is not None:
                span.set_attribute("http.response.status_code", candidate.error.status)
            span.set_status(Status(StatusCode.ERROR, candidate.error.type))
        elif self.content:
            output = _output_messages(candidate.text or "", candidate.finish_reason, candidate.tool_calls)
            span.set_attribute("gen_ai.output.messages", output)


class _Round(Span):
    """A fan-out's round: started by :meth:`OtelTracer.fanout`, ended by the fan-out."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def end(self, pending: int = 0) -> None:
        self.span.set_attribute("shoal.round.cancelled", pending)
        self.span.end()


def _failed(span: trace.Span, exc: BaseException) -> None:
    """What went wrong, by kind only: an exception's text may quote an upstream's reply."""
    if isinstance(exc, asyncio.CancelledError):
        span.set_attribute("shoal.cancelled", True)  # early exit, a client gone: not an error
        return
    kind = exc.kind if isinstance(exc, ProviderError) else type(exc).__name__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


# -- content, in the GenAI conventions' message shape ------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append({"type": "text", "content": part["text"]})
        elif isinstance(part, dict):
            parts.append({"type": str(part.get("type", "unknown"))})  # an image, a file: its kind only
    return parts


def _tool_calls(calls: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for call in calls or []:
        function = call.get("function") or {}
        out.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return out


def _input_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    shaped = []
    for message in messages:
        role = message.get("role", "user")
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _parts(message.get("content")) + _tool_calls(message.get("tool_calls"))
        shaped.append({"role": role, "parts": parts})
    return json.dumps(shaped, ensure_ascii=False)


def _output_messages(text: str, finish_reason: str | None, tool_calls: Any) -> str:
    parts = ([{"type": "text", "content": text}] if text else []) + _tool_calls(tool_calls)
    message = {"role": "assistant", "parts": parts, "finish_reason": finish_reason or "stop"}
    return json.dumps([message], ensure_ascii=False)
