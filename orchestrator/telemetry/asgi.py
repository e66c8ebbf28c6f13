"""A pure ASGI middleware: a server span per HTTP request, continuing an incoming ``traceparent``.

The W3C trace context (``traceparent``, ``tracestate``) of the request becomes the
parent of its server span, and the server span is the current span while the app
runs, streamed bodies included (the app returns only once the last chunk is
sent), so the request's ``invoke_agent`` span and everything under it join the
caller's trace. Only the method, the path and the status are recorded; ``/health`` and
``/metrics`` (polled by probes and scrapers) make no spans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["TraceContextMiddleware"]

_PROPAGATOR = TraceContextTextMapPropagator()
_MAX_NAMED_PATH = 64  # a longer path (a probe, a typo) names no span: span names stay few
_UNTRACED = frozenset({"/health", "/metrics"})  # polled every few seconds: noise in every trace view


class TraceContextMiddleware:
    def __init__(self, app: Any, tracer: Callable[[], trace.Tracer]) -> None:
        self.app = app
        self._tracer = tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in _UNTRACED:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parent = _PROPAGATOR.extract(carrier)
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        name = f"{method} {_route(path)}" if len(path) <= _MAX_NAMED_PATH else method
        span = self._tracer().start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path[:_MAX_NAMED_PATH]},
        )

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                    span.set_attribute("error.type", str(status))
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, sending)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()


def _route(path: str) -> str:
    """The route of ``path``: a model's id is a parameter, not part of the span name."""
    for prefix in ("/v1/models/", "/models/"):
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "{model_id}"
    return path
