"""Hostile clients over raw sockets against a real ``shoal serve``: slow and oversized heads and
bodies, disconnects at every phase, bad encodings, deep JSON, cross-site requests, shutdown.

Limits are small here (``header_timeout_s = 1``, ``body_timeout_s = 1``, four concurrent
requests) so that floods are cheap and the timeouts quick.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import scripted_toml
from tests.proxy.faults import FaultUpstream, fault_upstream, members_toml
from tests.proxy.servers import Served, serve_env, start_serve

QUESTION = [{"role": "user", "content": "What is six times seven?"}]
BODY = json.dumps({"model": "alice", "messages": QUESTION}).encode()

LIMITS = """
[server]
header_timeout_s = 1
body_timeout_s = 1
max_header_bytes = 8192
max_concurrent_requests = 4
heartbeat_s = 5
shutdown_grace_s = 1
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    with fault_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, upstream: FaultUpstream) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("hostile")
    config = workdir / "shoal.toml"
    members = {"alice": {"answers": ["42"]}, "bob": {"answers": ["42"]}}
    extra = members_toml(upstream) + LIMITS
    config.write_text(scripted_toml(members, extra), encoding="utf-8")
    server = start_serve(config, workdir, env=serve_env(FAULT_KEY="k"))
    yield server
    server.stop()


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    return sock


def head(path: str = "/v1/chat/completions", length: int | None = None, extra: str = "") -> bytes:
    size = f"content-length: {length if length is not None else len(BODY)}\r\n"
    return (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{size}{extra}\r\n"
    ).encode()


def response_of(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        if not got:
            raise ConnectionError(f"closed after {data!r}")
        data += got
    top, _, rest = data.partition(b"\r\n\r\n")
    headers = dict(line.decode().lower().split(": ", 1) for line in top.split(b"\r\n")[1:] if b": " in line)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        got = sock.recv(65536)
        if not got:
            break
        rest += got
    status = int(top.split(b" ", 2)[1])
    assert headers.get("content-type", "").startswith("application/json"), (status, top, rest)
    return status, json.loads(rest[:length])


def legit(served: Served, client: httpx.Client) -> int:
    return client.post(
        served.base_url + "/chat/completions", json={"model": "alice", "messages": QUESTION}
    ).status_code


def alive(served: Served) -> None:
    assert httpx.get(served.root + "/health", timeout=5).json()["status"] == "ok"
    assert "Traceback" not in served.stderr()


# -- heads -----------------------------------------------------------------------------------


def test_an_oversized_header_is_a_431_before_it_is_buffered(hostile: Served) -> None:
    with connect(hostile) as sock:
        sock.sendall(head(extra="x-big: " + "a" * 20000 + "\r\n") + BODY)
        status, body = response_of(sock)
    assert status == 431
    assert body["error"]["code"] == "request_header_fields_too_large"
    alive(hostile)


def test_a_huge_header_that_never_ends_is_cut_off(hostile: Served) -> None:
    with connect(hostile) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nx-big: ")
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(64):  # 32 MB offered; the server stops reading past 8 KB
                sock.sendall(b"a" * (512 * 1024))
    alive(hostile)


def test_a_slow_header_is_a_408(hostile: Served) -> None:
    with connect(hostile) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        status, body = response_of(sock)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert time.monotonic() - started < 3


def test_http_garbage_is_answered_in_json(hostile: Served) -> None:
    with connect(hostile) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, body = response_of(sock)
    assert status == 400
    assert body["error"]["code"] == "invalid_http"


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [0, 10])
def test_a_body_shorter_than_declared_is_a_408(hostile: Served, sent: int) -> None:
    with connect(hostile) as sock:
        sock.sendall(head(length=len(BODY)) + BODY[:sent])
        status, body = response_of(sock)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"


def test_an_oversized_body_is_a_413(hostile: Served) -> None:
    with connect(hostile) as sock:
        sock.sendall(head(length=64 * 1024 * 1024))
        status, _ = response_of(sock)
    assert status == 413


@pytest.mark.parametrize("phase", ["head", "body", "answer"])
def test_a_disconnect_at_any_phase_is_no_500(hostile: Served, phase: str) -> None:
    slow = json.dumps({"model": "hang", "messages": QUESTION}).encode()
    with connect(hostile) as sock:
        if phase == "head":
            sock.sendall(head()[:30])
        elif phase == "body":
            sock.sendall(head(length=len(slow)) + slow[:10])
        else:
            sock.sendall(head(length=len(slow)) + slow)
        time.sleep(0.2)
    time.sleep(0.3)
    assert hostile.metric("shoal_requests_total", model="hang", status="500", stream="false") == 0
    alive(hostile)


def test_legitimate_requests_succeed_during_a_slow_body_and_a_slow_header_flood(hostile: Served) -> None:
    # 40 connections (ten times max_concurrent_requests) trickle their bodies or their heads.
    flood = [connect(hostile) for _ in range(40)]
    try:
        for i, sock in enumerate(flood):
            sock.sendall(
                head(length=100_000) + b'{"model"' if i % 2 else b"POST /v1/chat/completions HTTP/1.1\r\n"
            )
        with httpx.Client(timeout=10) as client:
            statuses = [legit(hostile, client) for _ in range(20)]
    finally:
        for sock in flood:
            sock.close()
    assert statuses == [200] * 20


# -- JSON and its content --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"\xff\xfe{}", "application/json"),  # not UTF-8
        (b'{"model": "alice", "messages": [{"role": "user", "content": "\\ud800"}]}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),  # 100,000 deep
        (
            b'{"model": "alice", "messages": [{"role": "user", "content": "x"}], "x": '
            + b"[" * 70
            + b"]" * 70
            + b"}",
            "application/json",
        ),  # 70 deep
        (BODY, "text/plain"),
        (BODY, "application/x-www-form-urlencoded"),
        (BODY, ""),
        (
            json.dumps(
                {"model": "alice", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}
            ).encode(),
            "application/json",
        ),
        (
            json.dumps(
                {"model": "alice", "messages": [{"role": "user", "content": [{"text": "x"}]}]}
            ).encode(),
            "application/json",
        ),
    ],
)
def test_bad_bodies_are_a_400(hostile: Served, raw: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(hostile.base_url + "/chat/completions", content=raw, headers=headers, timeout=10)
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "evil.example:8000"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
    ],
)
def test_cross_site_requests_are_refused_without_keys(
    hostile: Served, headers: dict, upstream: FaultUpstream
) -> None:
    before = upstream.requests["ok"]
    body = json.dumps({"model": "ok", "messages": QUESTION})
    response = httpx.post(
        hostile.base_url + "/chat/completions",
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=10,
    )
    assert response.status_code == 403, response.text
    assert upstream.requests["ok"] == before
    local = httpx.post(
        hostile.base_url + "/chat/completions",
        content=body,
        headers={"content-type": "application/json", "origin": "http://localhost:3000"},
        timeout=10,
    )
    assert local.status_code == 200


def test_n_above_one_keeps_the_members_status(hostile: Served) -> None:
    response = httpx.post(
        hostile.base_url + "/chat/completions",
        json={"model": "e429", "messages": QUESTION, "n": 2},
        timeout=10,
    )
    assert response.status_code == 429, response.text


# -- disconnects are noticed at once ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_disconnect_cancels_the_upstream_call_within_250_ms(
    hostile: Served, upstream: FaultUpstream, stream: bool
) -> None:
    body = json.dumps({"model": "hang", "messages": QUESTION, "stream": stream}).encode()
    delays = []
    for _ in range(8):
        seen = len(upstream.hangups["hang"])
        asked = upstream.requests["hang"]
        with connect(hostile) as sock:
            sock.sendall(head(length=len(body)) + body)
            deadline = time.monotonic() + 5
            while upstream.requests["hang"] == asked and time.monotonic() < deadline:
                time.sleep(0.005)
            left = time.monotonic()
        while len(upstream.hangups["hang"]) == seen and time.monotonic() < left + 5:
            time.sleep(0.002)
        delays.append(upstream.hangups["hang"][-1] - left)
    assert max(delays) < 0.25, [round(d, 3) for d in delays]  # heartbeat_s is 5


# -- shutdown --------------------------------------------------------------------------------


def test_past_the_shutdown_grace_requests_get_a_503_and_streams_an_error_event(
    tmp_path: Path, upstream: FaultUpstream
) -> None:
    config = tmp_path / "shoal.toml"
    config.write_text(scripted_toml({"alice": {"answers": ["42"]}}, members_toml(upstream) + LIMITS))
    server = start_serve(config, tmp_path, env=serve_env(FAULT_KEY="k"))
    results: dict[bool, httpx.Response] = {}

    def ask(stream: bool) -> None:
        body = {"model": "hang", "messages": QUESTION, "stream": stream}
        results[stream] = httpx.post(server.base_url + "/chat/completions", json=body, timeout=20)

    threads = [threading.Thread(target=ask, args=(s,)) for s in (False, True)]
    asked = upstream.requests["hang"]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while upstream.requests["hang"] < asked + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(15)
    finally:
        server.stop()
    plain = results[False]
    assert plain.status_code == 503, plain.text
    assert plain.json()["error"]["code"] == "shutting_down"
    streamed = results[True]
    assert streamed.status_code in (200, 503)
    assert "shutting_down" in streamed.text
    assert "Traceback" not in server.stderr()
