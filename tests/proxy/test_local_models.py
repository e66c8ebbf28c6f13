"""``shoal serve`` over the real built-in offline panel (llama.cpp models), driven by the openai client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from orchestrator.config import load_config
from orchestrator.registry import Registry
from tests.proxy.servers import Served, serve_env, start_serve

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = load_config(None)
    store = Registry().provider("local").model_store(config.cache_dir())
    missing = [s.name for s in store.list() if not s.present and not store.model(s.name).opt_in]  # as pulled
    if missing:
        pytest.fail(f"local models missing: {missing}; run `shoal models pull` first")
    workdir = tmp_path_factory.mktemp("local")  # no shoal.toml there: the built-in panel
    server = start_serve(None, workdir, env=serve_env(SHOAL_OFFLINE="1"), timeout=180)
    assert "config: <built-in default>" in server.banner
    yield server
    server.stop()


def test_a_local_member_streams_through_token_by_token(local: Served) -> None:
    with openai.OpenAI(base_url=local.base_url, api_key="none", max_retries=0, timeout=300) as client:
        started = time.perf_counter()
        arrivals = [
            (time.perf_counter() - started, c.choices[0].delta.content)
            for c in client.chat.completions.create(model="smollm2", messages=QUESTION, stream=True)
            if c.choices and c.choices[0].delta.content
        ]
    text = "".join(piece for _, piece in arrivals)
    assert "paris" in text.lower()
    assert len(arrivals) >= 3  # tokens, not one block
    assert arrivals[0][0] < arrivals[-1][0]


def test_a_local_member_streams_its_tokens_logprobs(local: Served) -> None:
    """llama.cpp's server streams ``logprobs`` per chunk when asked: they reach the client as sent."""
    with openai.OpenAI(base_url=local.base_url, api_key="none", max_retries=0, timeout=300) as client:
        chunks = [
            c
            for c in client.chat.completions.create(
                model="smollm2", messages=QUESTION, stream=True, logprobs=True, top_logprobs=2, max_tokens=12
            )
            if c.choices and c.choices[0].delta.content
        ]
    assert len(chunks) >= 3
    for chunk in chunks:
        logprobs = chunk.choices[0].logprobs
        assert logprobs is not None and logprobs.content, chunk
        assert "".join(t.token for t in logprobs.content) == chunk.choices[0].delta.content
        for token in logprobs.content:
            assert token.logprob <= 0 and 1 <= len(token.top_logprobs) <= 2


def test_the_default_panel_votes_through_the_proxy(local: Served) -> None:
    with openai.OpenAI(base_url=local.base_url, api_key="none", max_retries=0, timeout=300) as client:
        assert {"shoal/auto", "shoal/vote", "smollm2", "gemma3", "smollm2-warm"} <= {
            m.id for m in client.models.list()
        }
        done = client.chat.completions.create(model="shoal/auto", messages=QUESTION)
    assert "paris" in (done.choices[0].message.content or "").lower()
    meta = done.model_extra["shoal"]
    assert {c["member"] for c in meta["candidates"]} == {"smollm2", "gemma3", "smollm2-warm"}
    assert meta["confidence"] >= 2 / 3
    assert done.usage.total_tokens > 0
