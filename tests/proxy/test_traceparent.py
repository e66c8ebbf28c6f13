"""A caller's W3C ``traceparent`` through a real ``shoal serve``: its spans join the caller's trace,
streamed answers included, and reach a real OTLP/HTTP receiver by the server's shutdown."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import openai

from tests.helpers import write_config
from tests.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.proxy.servers import serve_env, start_serve

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER

TRACE_A, PARENT_A = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TRACE_B, PARENT_B = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_traceparent_is_continued_for_plain_and_streamed_answers(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        extra = f"""
        [strategies.vote]
        kind = "vote"
        answer_type = "number"

        [telemetry]
        otlp_endpoint = "{receiver.endpoint}"
        """
        config = write_config(
            tmp_path / "shoal.toml",
            {"alice": {"answers": ["42"]}, "bob": {"answers": ["42"]}, "carol": {"answers": ["41"]}},
            extra,
        )
        served = start_serve(config, tmp_path, env=serve_env())
        try:
            body = {"model": "shoal/vote", "messages": [{"role": "user", "content": "6 x 7?"}]}
            plain = httpx.post(
                served.base_url + "/chat/completions",
                json=body,
                headers={"traceparent": f"00-{TRACE_A}-{PARENT_A}-01"},
                timeout=30,
            )
            assert plain.status_code == 200, plain.text
            client = openai.OpenAI(base_url=served.base_url, api_key="none")
            chunks = client.chat.completions.create(
                model="shoal/vote",
                messages=[{"role": "user", "content": "6 x 7?"}],
                stream=True,
                extra_headers={"traceparent": f"00-{TRACE_B}-{PARENT_B}-01"},
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == "42"
        finally:
            assert served.stop() in (0, -signal.SIGTERM), served.stderr()  # the shutdown flushes the spans
        spans = receiver.wait_for(2 * 9)
    for trace_id, parent in ((TRACE_A, PARENT_A), (TRACE_B, PARENT_B)):
        ours = [s for s in spans if s.trace_id == trace_id]
        server = [s for s in ours if s.kind == SERVER_KIND]
        assert len(server) == 1, [s.name for s in ours]
        (root,) = server
        assert root.name == "POST /v1/chat/completions"
        assert root.parent_span_id == parent  # the caller's span is the parent
        assert root.attributes["http.response.status_code"] == 200
        request = _only(ours, "invoke_agent shoal/vote")
        assert request.parent_span_id == root.span_id
        fanout = _only(ours, "shoal.round answer")
        assert fanout.parent_span_id == request.span_id
        calls = [s for s in ours if s.name.startswith("chat ")]
        assert len(calls) == 3 and all(c.parent_span_id == fanout.span_id for c in calls)
    assert not [s for s in spans if s.trace_id not in (TRACE_A, TRACE_B)]


def _only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]
