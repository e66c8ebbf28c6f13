"""Traces of a request: the tree of spans and their attributes, with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator.config import ShoalConfig
from orchestrator.engine import Orchestrator
from orchestrator.errors import ConfigError, PolicyError
from orchestrator.telemetry import NO_TRACER, TelemetryConfig, endpoint_of, tracer_for
from orchestrator.telemetry.otel import OtelTracer
from tests.helpers import scripted_config
from tests.otlp_receiver import otlp_receiver

JUDGE_RULE = r'<candidate id="(\d+)">\s*(?:The answer is )?42\.?\s*</candidate>'

PANEL: dict[str, dict[str, Any]] = {
    "alice": {"model": "small-a", "answers": ["42"], "usage": {"prompt_tokens": 11, "completion_tokens": 2}},
    "bob": {"model": "small-b", "answers": ["The answer is 42."], "vendor": "acme"},
    "carol": {"model": "small-c", "answers": ["41"]},
    "dave": {"model": "small-d", "answers": ["42"], "latency_s": 0.4},
    "flaky": {"model": "small-f", "answers": ["42"], "fail": ["rate_limit", "none"], "retry_after_s": 0.0},
    "referee": {"model": "big-r", "fail": "server_error", "max_retries": 0},
    "chair": {
        "model": "big-c",
        "answers": ["no idea"],
        "rules": [{"when": JUDGE_RULE, "answer": r"BEST: \1"}],
    },
}

STRATEGIES = """
[teams.small]
members = ["alice", "bob", "carol"]

[teams.quick]
members = ["alice", "bob", "dave"]

[teams.retrying]
members = ["alice", "flaky"]

[strategies.vote]
kind = "vote"
team = "small"
answer_type = "number"

[strategies.quick]
kind = "vote"
team = "quick"
answer_type = "number"
early_exit = true

[strategies.retrying]
kind = "vote"
team = "retrying"
answer_type = "number"

[strategies.judged]
kind = "judge"
team = "small"
answer_type = "number"
judges = ["referee", "chair"]

[strategies.escalating]
kind = "cascade"
first = "vote"
then = "judged"
escalate_below = 0.7

[policy.confidential]
allow = ["vendor:acme"]

[policy.secret]
allow = ["member:alice"]
min_members = 2
"""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def orchestrator(exporter: InMemorySpanExporter, extra: str = "", **telemetry: Any) -> Orchestrator:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config: ShoalConfig = scripted_config({k: dict(v) for k, v in PANEL.items()}, STRATEGIES + extra)
    return Orchestrator(config, tracer=OtelTracer(TelemetryConfig(**telemetry), provider=provider))


def tree(spans: tuple[ReadableSpan, ...]) -> list[Any]:
    """The spans as nested ``[name, [children...]]``, children in start order."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        by_parent.setdefault(parent, []).append(span)

    def below(parent: int | None) -> list[Any]:
        kids = sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0)
        return [[s.name, below(s.context.span_id)] for s in kids]

    return below(None)


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def attempt(n: int = 1) -> list[Any]:
    return [f"attempt {n}", []]


async def test_vote_with_early_exit_traces_request_round_calls_and_the_cancelled_call(
    exporter: InMemorySpanExporter,
) -> None:
    orch = orchestrator(exporter)
    verdict = await orch.run("What is six times seven?", strategy="quick")
    await orch.aclose()
    spans = exporter.get_finished_spans()
    shape = tree(spans)
    assert shape[0][0] == "invoke_agent shoal/quick"
    (round_,) = shape[0][1]
    assert round_[0] == "shoal.round answer"
    calls = sorted(round_[1])
    assert calls == [
        ["chat small-a", [attempt()]],
        ["chat small-b", [attempt()]],
        ["chat small-d", [attempt()]],
    ]

    (request,) = named(spans, "invoke_agent shoal/quick")
    attrs = request.attributes or {}
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == "shoal/quick"
    assert attrs["shoal.strategy"] == "quick"
    assert attrs["shoal.route.team"] == "quick"
    assert attrs["shoal.policy.decision"] == "admitted"
    assert list(attrs["shoal.policy.admitted"]) == ["alice", "bob", "dave"]
    assert attrs["shoal.confidence"] == pytest.approx(verdict.confidence)
    assert attrs["shoal.abstained"] is False
    assert attrs["shoal.calls"] == verdict.calls == 3
    assert sorted(attrs["shoal.cluster.members"]) == ["alice", "bob"]
    assert attrs["shoal.content_recorded"] is False
    assert "gen_ai.input.messages" not in attrs and "shoal.cluster.key" not in attrs

    (fanout,) = named(spans, "shoal.round answer")
    assert fanout.attributes["shoal.round.kind"] == "fanout"
    assert fanout.attributes["shoal.round.cancelled"] == 1

    (alice,) = named(spans, "chat small-a")
    a = alice.attributes or {}
    assert alice.kind is SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "scripted"  # no vendor: the provider
    assert a["gen_ai.request.model"] == "small-a"
    assert a["gen_ai.response.model"] == "small-a"
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 2
    assert a["shoal.member"] == "alice" and a["shoal.role"] == "answer" and a["shoal.attempts"] == 1
    assert a["shoal.cached"] is False and "error.type" not in a
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert named(spans, "chat small-b")[0].attributes["gen_ai.provider.name"] == "acme"

    (dave,) = named(spans, "chat small-d")
    assert dave.attributes["shoal.cancelled"] is True  # cut by the early exit, visible, not an error
    assert dave.status.status_code is StatusCode.UNSET
    assert dave.end_time is not None and fanout.end_time is not None and dave.end_time <= fanout.end_time


async def test_a_retried_call_has_one_child_span_per_attempt(exporter: InMemorySpanExporter) -> None:
    orch = orchestrator(exporter)
    await orch.run("What is six times seven?", strategy="retrying")
    spans = exporter.get_finished_spans()
    (flaky,) = named(spans, "chat small-f")
    assert flaky.attributes["shoal.attempts"] == 2
    tries = sorted(
        (s for s in spans if s.parent and s.parent.span_id == flaky.context.span_id), key=lambda s: s.name
    )
    assert [s.name for s in tries] == ["attempt 1", "attempt 2"]
    assert tries[0].attributes["error.type"] == "rate_limit"
    assert tries[0].status.status_code is StatusCode.ERROR
    assert "error.type" not in (tries[1].attributes or {})
    assert flaky.status.status_code is StatusCode.UNSET  # the call itself succeeded


async def test_judge_with_a_failing_judge_shows_both_judge_rounds(exporter: InMemorySpanExporter) -> None:
    orch = orchestrator(exporter)
    verdict = await orch.run("What is six times seven?", strategy="judged")
    assert verdict.answer in ("42", "The answer is 42.")
    spans = exporter.get_finished_spans()
    shape = tree(spans)
    assert shape[0][0] == "invoke_agent shoal/judged"
    rounds = shape[0][1]
    assert [r[0] for r in rounds] == ["shoal.round answer", "shoal.round judge", "shoal.round judge"]
    assert sorted(rounds[0][1]) == [
        ["chat small-a", [attempt()]],
        ["chat small-b", [attempt()]],
        ["chat small-c", [attempt()]],
    ]
    assert rounds[1][1] == [["chat big-r", [attempt()]]]
    assert rounds[2][1] == [["chat big-c", [attempt()]]]
    (referee,) = named(spans, "chat big-r")
    assert referee.attributes["error.type"] == "server_error"
    assert referee.attributes["shoal.role"] == "judge"
    assert referee.status.status_code is StatusCode.ERROR
    (chair,) = named(spans, "chat big-c")
    assert chair.attributes["shoal.role"] == "judge" and "error.type" not in chair.attributes
    judge_rounds = named(spans, "shoal.round judge")
    assert all(r.attributes["shoal.round.kind"] == "call" for r in judge_rounds)
    (request,) = named(spans, "invoke_agent shoal/judged")
    assert request.attributes["shoal.calls"] == 5


async def test_cascade_nests_its_stages_rounds_under_one_request(exporter: InMemorySpanExporter) -> None:
    orch = orchestrator(exporter)
    verdict = await orch.run("What is six times seven?", strategy="escalating")
    spans = exporter.get_finished_spans()
    shape = tree(spans)
    assert len(shape) == 1 and shape[0][0] == "invoke_agent shoal/escalating"
    rounds = [r[0] for r in shape[0][1]]
    # the vote's fan-out, then the judge stage reuses its answers: the failing judge, the next one
    assert rounds == ["shoal.round answer", "shoal.round judge", "shoal.round judge"]
    (request,) = named(spans, "invoke_agent shoal/escalating")
    assert request.attributes["shoal.calls"] == verdict.calls == 5
    assert request.attributes["shoal.route.category"]
    assert len({s.context.trace_id for s in spans}) == 1


async def test_content_is_recorded_only_when_asked_and_never_for_a_sensitive_request(
    exporter: InMemorySpanExporter,
) -> None:
    orch = orchestrator(exporter, capture_content=True)
    await orch.run("What is six times seven?", strategy="vote")
    spans = exporter.get_finished_spans()
    (alice,) = named(spans, "chat small-a")
    sent = json.loads(alice.attributes["gen_ai.input.messages"])
    assert sent[-1]["role"] == "user" and "six times seven" in sent[-1]["parts"][0]["content"]
    said = json.loads(alice.attributes["gen_ai.output.messages"])
    assert said == [
        {"role": "assistant", "parts": [{"type": "text", "content": "42"}], "finish_reason": "stop"}
    ]
    (request,) = named(spans, "invoke_agent shoal/vote")
    assert request.attributes["shoal.content_recorded"] is True
    assert request.attributes["shoal.cluster.key"] == "42"

    exporter.clear()
    await orch.run("What is six times seven?", strategy="single", tags={"sensitivity": "confidential"})
    for span in exporter.get_finished_spans():
        attrs = span.attributes or {}
        assert not any(k in attrs for k in ("gen_ai.input.messages", "gen_ai.output.messages", "shoal.notes"))
    (request,) = [s for s in exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert request.attributes["shoal.content_recorded"] is False
    assert list(request.attributes["shoal.sensitivity"]) == ["confidential"]

    exporter.clear()  # the detector marks it: an e-mail address
    await orch.run("Mail jane.doe@example.com: what is six times seven?", strategy="single")
    assert all("gen_ai.input.messages" not in (s.attributes or {}) for s in exporter.get_finished_spans())


async def test_a_policy_refusal_is_on_the_request_span(exporter: InMemorySpanExporter) -> None:
    orch = orchestrator(exporter)
    with pytest.raises(PolicyError):
        await orch.run("What is six times seven?", strategy="vote", tags={"sensitivity": "secret"})
    (request,) = exporter.get_finished_spans()
    assert request.name == "invoke_agent shoal"
    assert request.attributes["shoal.policy.decision"] == "refused"
    assert "secret request" in request.attributes["shoal.policy.reason"]
    assert request.attributes["error.type"] == "PolicyError"
    assert request.status.status_code is StatusCode.ERROR


def test_settings_and_environment() -> None:
    assert tracer_for(TelemetryConfig(), env={}) is NO_TRACER
    assert endpoint_of(TelemetryConfig(), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == (
        "http://c:4318/v1/traces"
    )
    on = TelemetryConfig(otlp_endpoint="http://c:4318/v1/traces")
    assert (
        endpoint_of(on, env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x/t"}) == "http://c:4318/v1/traces"
    )
    assert endpoint_of(on, env={"OTEL_SDK_DISABLED": "true"}) is None
    assert isinstance(tracer_for(on, env={}), OtelTracer)
    with pytest.raises(ConfigError, match=r"telemetry\.capture_contents"):
        scripted_config({"a": {}}, "[telemetry]\ncapture_contents = true\n")


def test_with_telemetry_off_nothing_of_opentelemetry_is_imported(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sys
        from orchestrator.config import parse_config
        from orchestrator.engine import Orchestrator
        from orchestrator.proxy.app import create_app
        config = parse_config('''
        [members.a]
        provider = "scripted"
        model = "m"
        answers = ["42"]
        [members.b]
        provider = "scripted"
        model = "m"
        answers = ["42"]
        ''', source="t")
        create_app(config)
        verdict = Orchestrator(config).run_sync("What is six times seven?", strategy="vote")
        assert verdict.answer == "42"
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(loaded)
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHOAL_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_spans_reach_a_real_otlp_http_receiver() -> None:
    with otlp_receiver() as receiver:
        extra = f"""
        [telemetry]
        otlp_endpoint = "{receiver.endpoint}"
        service_name = "shoal-test"
        headers = {{ "x-tenant" = "t1" }}
        """
        config = scripted_config({k: dict(v) for k, v in PANEL.items()}, STRATEGIES + textwrap.dedent(extra))
        orch = Orchestrator(config)
        assert isinstance(orch.tracer, OtelTracer)
        await orch.run("What is six times seven?", strategy="vote")
        await orch.aclose()  # flushes the batch
        spans = receiver.wait_for(8)
    assert set(receiver.paths) == {"/v1/traces"}
    assert set(receiver.content_types) == {"application/x-protobuf"}
    assert receiver.headers[0]["x-tenant"] == "t1"
    names = sorted(s.name for s in spans)
    assert names == sorted(
        ["invoke_agent shoal/vote", "shoal.round answer"]
        + ["chat small-a", "chat small-b", "chat small-c"]
        + ["attempt 1"] * 3
    )
    by_id = {s.span_id: s for s in spans}
    request = next(s for s in spans if s.name.startswith("invoke_agent"))
    assert request.resource["service.name"] == "shoal-test"
    assert request.attributes["shoal.strategy"] == "vote"
    assert request.attributes["shoal.policy.admitted"] == ["alice", "bob", "carol"]
    carol = next(s for s in spans if s.name == "chat small-c")
    assert carol.attributes["gen_ai.request.model"] == "small-c"
    assert by_id[carol.parent_span_id].name == "shoal.round answer"
    assert by_id[by_id[carol.parent_span_id].parent_span_id] is request
    assert {s.trace_id for s in spans} == {request.trace_id}


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    yield
