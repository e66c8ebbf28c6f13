"""Prometheus metrics of the server, in their own registry (no module-level state).

Requests by model and status with a latency histogram, upstream calls by member
and outcome with their latency, tokens and cost by member, requests in flight, live
worker processes. Every series carries ``instance`` (``[state] instance``, or
``SHOAL_INSTANCE``, or the host name), so the machines behind one load balancer
stay apart wherever their numbers meet.

With ``--workers N``, ``shoal serve`` gives the workers one ``PROMETHEUS_MULTIPROC_DIR``
(a temporary directory it removes at exit): each worker writes its numbers there and
``/metrics``, whichever worker answers, reports the whole server (prometheus-client's
multiprocess mode). What collectors read at scrape time in one process (members'
breakers, the shared state's counters, the response cache) is mirrored into such
metrics by each worker at the end of each of its requests and at each scrape it answers:
counters are summed over the workers, breaker states and ``shoal_state_info`` take
the worst (highest) worker's value, ``shoal_member_up`` and ``shoal_state_up`` the lowest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from orchestrator.types import Candidate, Usage

__all__ = [
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "CollectorMirror",
    "ProxyMetrics",
    "StateCollector",
    "multiprocess",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_LATEST

_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def multiprocess() -> bool:
    """Whether this process writes its metrics for several workers (``--workers N``)."""
    return bool(os.environ.get(MULTIPROC_ENV))


class ProxyMetrics:
    def __init__(self, instance: str = "") -> None:
        self.instance = instance
        self.multiprocess = multiprocess()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._mirrors: list[CollectorMirror] = []
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
        self.in_flight = Gauge(
            "shoal_requests_in_flight", "Requests being answered", registry=r, multiprocess_mode="livesum"
        )
        self.workers = Gauge(
            "shoal_workers", "Worker processes serving", registry=r, multiprocess_mode="livesum"
        )
        self.workers.set(1)
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
        # a request's and a call's children, by their labels (one look-up per request or call)
        self._request_series: dict[tuple[str, int, bool], tuple[Any, Any]] = {}
        self._call_series: dict[tuple[str, str], list[Any]] = {}

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
        series = self._call_series.get((member, outcome))
        if series is None:
            series = self._call_series[member, outcome] = [self._child(self.calls, member, outcome)]
            series += [None] * 4  # latency, prompt and completion tokens, cost: made when first used
        series[0].inc()
        if candidate.cached:
            return
        (series[1] or self._made(series, 1, self.call_seconds, member)).observe(candidate.latency_s)
        usage = candidate.usage
        if usage.prompt_tokens:
            (series[2] or self._made(series, 2, self.tokens, member, "prompt")).inc(usage.prompt_tokens)
        if usage.completion_tokens:
            (series[3] or self._made(series, 3, self.tokens, member, "completion")).inc(
                usage.completion_tokens
            )
        if candidate.cost_usd:
            (series[4] or self._made(series, 4, self.cost, member)).inc(candidate.cost_usd)

    def request(self, model: str, status: int, stream: bool, seconds: float, usage: Usage | None) -> None:
        series = self._request_series.get((model, status, stream))
        if series is None:
            flag = "true" if stream else "false"
            series = self._request_series[model, status, stream] = (
                self._child(self.requests, model, str(status), flag),
                self._child(self.request_seconds, model, flag),
            )
        series[0].inc()
        series[1].observe(seconds)
        if usage is not None:
            self._child(self.request_tokens, "prompt").inc(usage.prompt_tokens)
            self._child(self.request_tokens, "completion").inc(usage.completion_tokens)
        if self._mirrors:
            self.sync()

    def _made(self, series: list[Any], slot: int, metric: Any, *labels: str) -> Any:
        """A series' child made on its first use (a child shows at ``/metrics`` once made)."""
        child = series[slot] = self._child(metric, *labels)
        return child

    def collect_at_scrape(self, collector: Any) -> None:
        """Add a collector read at scrape time (breakers, shared state); mirrored with several workers."""
        if self.multiprocess:
            self._mirrors.append(CollectorMirror(collector, self.registry))
        else:
            self.registry.register(collector)

    def sync(self) -> None:
        for mirror in self._mirrors:
            mirror.sync()

    def render(self) -> bytes:
        self.sync()
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return generate_latest(_Labelled(registry, self.instance))  # type: ignore[arg-type]
        return generate_latest(_Labelled(self.registry, self.instance))  # type: ignore[arg-type]

    def worker_exit(self) -> None:
        """This worker stops: its live gauges (in flight, workers) leave the server's sums."""
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            mp.mark_process_dead(os.getpid())


class _Labelled:
    """A registry's families with ``instance`` added to every sample that lacks it."""

    def __init__(self, registry: CollectorRegistry, instance: str) -> None:
        self._registry = registry
        self._instance = instance

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if not self._instance:
                yield family
                continue
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                s._replace(labels={**s.labels, "instance": s.labels.get("instance", self._instance)})
                for s in family.samples
            ]
            yield labelled


# how a gauge read in each worker combines over the workers (default: the highest)
GaugeMode = Literal["livemin", "livemax"]
_GAUGE_MODES: dict[str, GaugeMode] = {"shoal_member_up": "livemin", "shoal_state_up": "livemin"}


class CollectorMirror:
    """A scrape-time collector's numbers copied into multiprocess metrics of ``registry``.

    Counters advance by what they gained since the last :meth:`sync`; gauges are set.
    """

    def __init__(self, collector: Any, registry: CollectorRegistry) -> None:
        self._collector = collector
        self._registry = registry
        self._metrics: dict[str, Any] = {}
        self._seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def sync(self) -> None:
        for family in self._collector.collect():
            if family.type == "counter":
                self._counter(family)
            elif family.type == "gauge":
                self._gauge(family)

    def _metric(self, family: Metric, labels: Iterable[str]) -> Any:
        metric = self._metrics.get(family.name)
        if metric is None:
            names = sorted(labels)
            if family.type == "counter":
                metric = Counter(family.name, family.documentation, names, registry=self._registry)
            else:
                mode: GaugeMode = _GAUGE_MODES.get(family.name, "livemax")
                metric = Gauge(
                    family.name, family.documentation, names, registry=self._registry, multiprocess_mode=mode
                )
            self._metrics[family.name] = metric
        return metric

    def _counter(self, family: Metric) -> None:
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            key = (family.name, tuple(sorted(sample.labels.items())))
            gained = sample.value - self._seen.get(key, 0.0)
            self._seen[key] = sample.value
            if gained > 0:
                metric = self._metric(family, sample.labels)
                (metric.labels(**sample.labels) if sample.labels else metric).inc(gained)

    def _gauge(self, family: Metric) -> None:
        for sample in family.samples:
            metric = self._metric(family, sample.labels)
            (metric.labels(**sample.labels) if sample.labels else metric).set(sample.value)


class StateCollector:
    """The shared state seen from this process, read at scrape time.

    ``shoal_state_info{backend, instance}`` (1), ``shoal_state_up`` (0 while Redis is
    being avoided after a failure), ``shoal_state_round_trips_total`` and
    ``shoal_state_fallbacks_total{kind}`` (operations that fell back to local state or
    failed closed because Redis could not be reached), and the response cache's
    ``shoal_cache_{hits,misses,stores,refused}_total``.
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
            for name, text in (
                ("hits", "Requests answered from the response cache."),
                ("misses", "Requests the response cache could not answer."),
                ("stores", "Verdicts stored in the response cache."),
                ("refused", "Cached answers not served: the policy excludes a member they came from."),
            ):
                yield CounterMetricFamily(f"shoal_cache_{name}", text, value=getattr(self._cache, name))
