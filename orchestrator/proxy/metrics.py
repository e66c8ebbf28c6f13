"""Prometheus metrics of one server process, in their own registry (no module-level state).

Requests by model and status with a latency histogram, upstream calls by member
and outcome with their latency, tokens and cost by member, requests in flight.
With ``--workers N`` each worker process keeps its own numbers: ``/metrics``
shows the worker that answered the scrape.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from orchestrator.types import Candidate, Usage

__all__ = ["CONTENT_TYPE", "ProxyMetrics", "StateCollector"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "shoal_requests", "Chat completion requests answered", ["model", "status", "stream"], registry=r
        )
        self.request_seconds = Histogram(
            "shoal_request_duration_seconds",
            "Time from request to last byte",
            ["model", "stream"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("shoal_requests_in_flight", "Requests being answered", registry=r)
        self.calls = Counter(
            "shoal_upstream_calls", "Calls to members by outcome", ["member", "outcome"], registry=r
        )
        self.call_seconds = Histogram(
            "shoal_upstream_call_duration_seconds",
            "Latency of calls to members",
            ["member"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("shoal_tokens", "Tokens by member and kind", ["member", "kind"], registry=r)
        self.cost = Counter("shoal_cost_usd", "Cost in US dollars by member", ["member"], registry=r)
        self.request_tokens = Counter(
            "shoal_request_tokens", "Tokens of answered requests by kind", ["kind"], registry=r
        )
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once (prometheus_client's lookup is slow)."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def call(self, candidate: Candidate) -> None:
        """One member call (the orchestrator's ``on_call``)."""
        member = candidate.member
        outcome = candidate.error.type if candidate.error else ("cached" if candidate.cached else "ok")
        self._child(self.calls, member, outcome).inc()
        if candidate.cached:
            return
        self._child(self.call_seconds, member).observe(candidate.latency_s)
        if candidate.usage.prompt_tokens:
            self._child(self.tokens, member, "prompt").inc(candidate.usage.prompt_tokens)
        if candidate.usage.completion_tokens:
            self._child(self.tokens, member, "completion").inc(candidate.usage.completion_tokens)
        if candidate.cost_usd:
            self._child(self.cost, member).inc(candidate.cost_usd)

    def request(self, model: str, status: int, stream: bool, seconds: float, usage: Usage | None) -> None:
        flag = "true" if stream else "false"
        self._child(self.requests, model, str(status), flag).inc()
        self._child(self.request_seconds, model, flag).observe(seconds)
        if usage is not None:
            self._child(self.request_tokens, "prompt").inc(usage.prompt_tokens)
            self._child(self.request_tokens, "completion").inc(usage.completion_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector:
    """The shared state seen from this process, read at scrape time.

    ``shoal_state_info{backend, instance}`` (1), ``shoal_state_up`` (0 while Redis is
    being avoided after a failure), ``shoal_state_round_trips_total`` and
    ``shoal_state_fallbacks_total{kind}`` (operations that fell back to local state or
    failed closed because Redis could not be reached), and the response cache's
    ``shoal_cache_{hits,misses,stores}_total``.
    """

    def __init__(self, state: Any, instance: str, cache: Any = None) -> None:
        self._state = state
        self._instance = instance
        self._cache = cache

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        info = GaugeMetricFamily(
            "shoal_state_info", "Where shared state lives.", labels=["backend", "instance"]
        )
        info.add_metric([self._state.backend, self._instance], 1)
        yield info
        yield GaugeMetricFamily(
            "shoal_state_up",
            "1 unless Redis is avoided after a failure.",
            value=int(getattr(self._state, "up", True)),
        )
        yield CounterMetricFamily(
            "shoal_state_round_trips",
            "Operations sent to the shared state.",
            value=getattr(self._state, "round_trips", 0),
        )
        fallbacks = CounterMetricFamily(
            "shoal_state_fallbacks", "Operations Redis could not serve, by kind of state.", labels=["kind"]
        )
        for kind, count in sorted(getattr(self._state, "fallbacks", {}).items()):
            fallbacks.add_metric([kind], count)
        yield fallbacks
        if self._cache is not None:
            for name in ("hits", "misses", "stores"):
                yield CounterMetricFamily(
                    f"shoal_cache_{name}", f"Response cache {name}.", value=getattr(self._cache, name)
                )
