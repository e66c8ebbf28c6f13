"""Raw HTTP against ``shoal serve``: malformed bodies, the error shape, SSE framing, health and metrics."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.proxy.servers import Served

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def post(served: Served, body: bytes | dict, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        served.base_url + "/chat/completions",
        content=content,
        headers={"content-type": "application/json", **kwargs.pop("headers", {})},
        timeout=20,
        **kwargs,
    )


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b'{"model": "shoal/auto", "messages": [', None, "invalid_json"),
        (b"[1, 2, 3]", None, "invalid_json"),
        (b"", None, "invalid_json"),
        ({"messages": QUESTION}, "model", "invalid_value"),
        ({"model": "shoal/auto"}, "messages", "invalid_value"),
        ({"model": "shoal/auto", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role", None),
        ({"model": "shoal/auto", "messages": QUESTION, "temperature": 7}, "temperature", "invalid_value"),
        ({"model": "shoal/auto", "messages": QUESTION, "stream": "maybe"}, "stream", "invalid_value"),
        ({"model": "shoal/auto", "messages": QUESTION, "logprobs": True}, "logprobs", None),
    ],
)
def test_malformed_requests_are_400_naming_the_parameter(
    served: Served, body: bytes | dict, param: str | None, code: str | None
) -> None:
    error = assert_openai_error(post(served, body), 400, code)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_routes_and_methods_answer_in_the_openai_shape(served: Served) -> None:
    assert_openai_error(httpx.get(served.root + "/v1/nothing-here", timeout=5), 404, "not_found")
    assert_openai_error(httpx.get(served.base_url + "/chat/completions", timeout=5), 405)


def test_unknown_fields_are_ignored_not_forwarded(served: Served) -> None:
    response = post(served, {"model": "alice", "messages": QUESTION, "frobnicate": 3, "user": "u1"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "42"


def test_paths_without_v1_also_work(served: Served) -> None:
    response = httpx.post(
        served.root + "/chat/completions", json={"model": "alice", "messages": QUESTION}, timeout=10
    )
    assert response.json()["choices"][0]["message"]["content"] == "42"


def test_sse_framing_and_heartbeats_while_the_panel_works(served: Served) -> None:
    """``patient`` waits 0.6 s for a member; heartbeats (every 0.2 s) keep the line open meanwhile."""
    body = {"model": "shoal/patient", "messages": QUESTION, "stream": True}
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    with httpx.stream("POST", served.base_url + "/chat/completions", json=body, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"].startswith("req_")
        for line in response.iter_lines():
            lines.append((time.perf_counter() - started, line))
    texts = [line for _, line in lines]
    heartbeats = [t for t, line in lines if line.startswith(":")]
    assert len(heartbeats) >= 1
    first_data = next(t for t, line in lines if line.startswith("data: {"))
    assert first_data <= 0.6 + 0.3  # the role chunk goes out before the panel is done
    assert texts[-1] == "data: [DONE]" or texts[-2] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in texts if line.startswith("data: {")]
    content = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert content == "42"
    assert events[-1]["shoal"]["strategy"] == "patient"


def test_health_and_metrics(served: Served) -> None:
    health = httpx.get(served.root + "/health", timeout=5).json()
    assert health["status"] == "ok" and health["models"] >= 3
    post(served, {"model": "alice", "messages": QUESTION})
    post(served, {"model": "shoal/down", "messages": QUESTION})
    text = httpx.get(served.root + "/metrics", timeout=5).text
    assert "# TYPE shoal_requests_total counter" in text
    assert "# TYPE shoal_request_duration_seconds histogram" in text
    assert served.metric("shoal_requests_total", model="alice", status="200", stream="false") >= 1
    assert served.metric("shoal_requests_total", model="shoal/down", status="502", stream="false") >= 1
    assert served.metric("shoal_upstream_calls_total", member="alice", outcome="ok") >= 1
    assert served.metric("shoal_upstream_calls_total", member="broken", outcome="server_error") >= 1
    assert served.metric("shoal_upstream_calls_total", member="jammed", outcome="rate_limit") >= 1
    assert served.metric("shoal_tokens_total", member="alice", kind="prompt") > 0
    assert served.metric("shoal_request_duration_seconds_count", model="alice", stream="false") >= 1


def test_info_logs_carry_no_prompt(served: Served) -> None:
    secret = "purple-elephant-7781"
    post(served, {"model": "shoal/auto", "messages": [{"role": "user", "content": f"Is {secret} a word?"}]})
    assert secret not in served.stderr()
