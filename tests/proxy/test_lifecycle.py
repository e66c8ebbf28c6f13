"""A client that hangs up cancels its upstream calls; SIGTERM lets requests in flight finish."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, Served, start_serve

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def eventually(check, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def in_flight(served: Served) -> int:
    return int(httpx.get(served.root + "/health", timeout=2).json()["in_flight"])


def test_a_client_hanging_up_cancels_the_slow_members_call(served: Served) -> None:
    before = served.metric("shoal_upstream_calls_total", member="slowpoke", outcome="cancelled")
    gone_before = served.metric("shoal_requests_total", model="slowpoke", status="499", stream="false")
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            served.base_url + "/chat/completions",
            json={"model": "slowpoke", "messages": QUESTION},
            timeout=httpx.Timeout(10, read=0.5),
        )
    # The member would have taken 30 s; its call is cancelled as soon as the client is gone.
    assert eventually(
        lambda: (
            served.metric("shoal_upstream_calls_total", member="slowpoke", outcome="cancelled") == before + 1
        )
    )
    assert time.perf_counter() - started < 10
    assert served.metric("shoal_upstream_calls_total", member="slowpoke", outcome="ok") == 0
    assert (
        served.metric("shoal_requests_total", model="slowpoke", status="499", stream="false")
        == gone_before + 1
    )


def test_hanging_up_on_a_stream_cancels_the_panel(served: Served) -> None:
    before = served.metric("shoal_upstream_calls_total", member="slowpoke", outcome="cancelled")
    body = {"model": "shoal/stuck", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", served.base_url + "/chat/completions", json=body, timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")  # the role chunk; the panel is still working
    assert eventually(
        lambda: (
            served.metric("shoal_upstream_calls_total", member="slowpoke", outcome="cancelled") == before + 1
        )
    )
    assert eventually(
        lambda: served.metric("shoal_requests_total", model="shoal/stuck", status="499", stream="true") >= 1
    )


def test_hanging_up_mid_stream_closes_the_upstream_stream(
    served: Served, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(tokens=[f" t{i}" for i in range(40)], gap_s=0.1)
    body = {"model": "relay", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", served.base_url + "/chat/completions", json=body, timeout=10) as response:
        seen = 0
        for line in response.iter_lines():
            if '"content":" t' in line:
                seen += 1
            if seen == 2:
                break
    assert fresh_upstream.hung_up.wait(5), "the proxy kept reading the upstream after the client left"
    assert not fresh_upstream.finished.is_set()
    assert eventually(lambda: in_flight(served) == 0)


SHUTDOWN = """
[server]
shutdown_grace_s = {grace}
"""


def _serve(tmp_path: Path, latency_s: float, grace: float) -> Served:
    config = tmp_path / "shutdown.toml"
    members = {"slow": {"answers": ["nine"], "latency_s": latency_s}}
    config.write_text(scripted_toml(members, SHUTDOWN.format(grace=grace)), encoding="utf-8")
    return start_serve(config, tmp_path)


def test_sigterm_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    server = _serve(tmp_path, latency_s=1.5, grace=10)
    results: dict[str, object] = {}

    def ask(stream: bool) -> None:
        body = {"model": "slow", "messages": QUESTION, "stream": stream}
        try:
            response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=20)
            results[f"stream={stream}"] = (response.status_code, response.text)
        except httpx.HTTPError as exc:  # pragma: no cover - reported by the assertion below
            results[f"stream={stream}"] = exc

    threads = [threading.Thread(target=ask, args=(stream,)) for stream in (False, True)]
    try:
        for thread in threads:
            thread.start()
        assert eventually(lambda: httpx.get(server.root + "/health", timeout=2).json()["in_flight"] == 2)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(server.root + "/health", timeout=2)
        for thread in threads:
            thread.join(15)
        plain = results["stream=False"]
        assert isinstance(plain, tuple) and plain[0] == 200 and '"content":"nine"' in plain[1]
        streamed = results["stream=True"]
        assert isinstance(streamed, tuple) and streamed[0] == 200
        assert '"content":"nine"' in streamed[1] and streamed[1].rstrip().endswith("data: [DONE]")
        server.process.wait(10)
        assert server.process.returncode in (0, -signal.SIGTERM)
    finally:
        server.stop()


def test_sigterm_gives_up_after_the_grace_period(tmp_path: Path) -> None:
    server = _serve(tmp_path, latency_s=60, grace=0.5)
    thread = threading.Thread(
        target=lambda: _swallow(
            server.base_url + "/chat/completions", {"model": "slow", "messages": QUESTION}
        ),
        daemon=True,
    )
    try:
        thread.start()
        assert eventually(lambda: httpx.get(server.root + "/health", timeout=2).json()["in_flight"] == 1)
        started = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - reported by the assertion below
            pass
        assert server.process.returncode is not None, "still running 10 s after SIGTERM"
        assert time.perf_counter() - started < 5
    finally:
        server.stop()
        thread.join(5)


def _swallow(url: str, body: dict) -> None:
    try:
        httpx.post(url, json=body, timeout=20)
    except httpx.HTTPError:
        pass
