"""The local provider with real small models on llama.cpp (the ``slow`` ones), and its start errors.

These tests never download: the models must be in the cache already
(``shoal models pull``; the cache is ``SHOAL_CACHE_DIR`` or the user cache).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from orchestrator.errors import ConfigError, ModelError, ModelStartError, UnknownNameError
from orchestrator.protocols import ProviderContext
from orchestrator.types import Call, Member, Request
from providers.local import LocalProvider
from providers.local.server import LlamaServer

QUESTION = "What is the capital of France?"


def user_cache_dir() -> Path:
    if os.environ.get("SHOAL_CACHE_DIR"):
        return Path(os.environ["SHOAL_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shoal"


def require(model: str) -> None:
    if LocalProvider.model_store(user_cache_dir()).path(model) is None:
        pytest.fail(f"local model {model!r} is not in {user_cache_dir()}: run `shoal models pull` first")


def member(model: str, name: str = "m", **params: object) -> Member:
    return Member(
        name=name, provider="local", model=model, locality="local", params={"temperature": 0.0, **params}
    )


def call(question: str = QUESTION) -> Call:
    return Call(messages=Request.of(question).wire_messages(), params={"temperature": 0.0, "max_tokens": 48})


@pytest.fixture
async def context() -> AsyncIterator[ProviderContext]:
    ctx = ProviderContext(cache_dir=user_cache_dir(), offline=True)
    async with ctx.exit_stack:
        yield ctx


def servers(ctx: ProviderContext) -> list[LlamaServer]:
    return [value for value in ctx.shared.values() if isinstance(value, LlamaServer)]


@pytest.mark.slow
async def test_smollm2_answers_a_factual_question(context: ProviderContext) -> None:
    require("smollm2-135m-instruct")
    provider = LocalProvider(member("smollm2-135m-instruct"), context)

    completion = await provider.complete(call())

    assert "Paris" in completion.text
    assert completion.usage.completion_tokens > 0
    assert completion.model == "smollm2-135m-instruct"


@pytest.mark.slow
async def test_smollm2_streams(context: ProviderContext) -> None:
    require("smollm2-135m-instruct")
    provider = LocalProvider(member("smollm2-135m-instruct"), context)

    deltas = [delta async for delta in provider.stream(call())]

    text = "".join(delta.text for delta in deltas)
    assert "Paris" in text
    assert len([d for d in deltas if d.text]) > 1
    last = deltas[-1].completion
    assert last is not None and last.text == text and last.finish_reason == "stop"


@pytest.mark.slow
async def test_the_gemma_base_model_answers_in_completion_style(context: ProviderContext) -> None:
    require("gemma3-270m")
    provider = LocalProvider(member("gemma3-270m"), context)

    answers = [(await provider.complete(call(q))).text for q in (QUESTION, "Who wrote Hamlet?")]

    assert "Paris" in answers[0]
    assert "Shakespeare" in answers[1]
    assert all("\n" not in a.strip() for a in answers)  # the catalog's stop = ["\n"]


@pytest.mark.slow
async def test_members_of_one_model_share_one_server_that_stops_with_the_context() -> None:
    require("smollm2-135m-instruct")
    ctx = ProviderContext(cache_dir=user_cache_dir(), offline=True)
    async with ctx.exit_stack:
        cold = LocalProvider(member("smollm2-135m-instruct", "cold"), ctx)
        warm = LocalProvider(member("smollm2-135m-instruct", "warm", temperature=0.7, seed=7), ctx)

        answers = await asyncio.gather(cold.complete(call()), warm.complete(call()))

        assert all(a.text for a in answers)
        [server] = servers(ctx)
        url = server.url
    assert url is not None
    async with httpx.AsyncClient(timeout=2.0) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/health")


@pytest.mark.parametrize("by", ["context", "environment"])
async def test_a_missing_model_offline_says_how_to_pull_it(
    by: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_PYPI_URL", "http://127.0.0.1:9/simple")  # were it to try, it would fail here
    if by == "environment":
        monkeypatch.setenv("SHOAL_OFFLINE", "1")
    ctx = ProviderContext(cache_dir=tmp_path, offline=by == "context")
    provider = LocalProvider(member("gemma3-270m"), ctx)

    with pytest.raises(ModelError, match=r"run `shoal models pull gemma3-270m` first"):
        await provider.complete(call())


async def test_a_missing_gguf_path_is_a_model_error(tmp_path: Path) -> None:
    provider = LocalProvider(member(str(tmp_path / "absent.gguf")), ProviderContext(cache_dir=tmp_path))

    with pytest.raises(ModelError, match=r"absent\.gguf does not exist"):
        await provider.complete(call())


def test_unknown_models_and_bad_options_fail_when_the_member_is_built(tmp_path: Path) -> None:
    ctx = ProviderContext(cache_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="smollm2-135m-instruct"):
        LocalProvider(member("gpt-5"), ctx)
    with pytest.raises(ConfigError, match="threads"):
        LocalProvider(member("gemma3-270m").model_copy(update={"options": {"threads": 0}}), ctx)


async def test_a_damaged_catalog_model_fails_to_start_with_the_fix(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    store = LocalProvider.model_store(tmp_path)
    entry = store.model("gemma3-270m")
    store.models_dir.mkdir(parents=True)
    with (store.models_dir / entry.gguf_filename).open("wb") as file:
        file.truncate(entry.gguf_size)  # the right size, all zeros: passes the cheap check only
    ctx = ProviderContext(cache_dir=tmp_path, offline=True)

    async with ctx.exit_stack:
        with pytest.raises(ModelStartError) as caught:
            await LocalProvider(member("gemma3-270m"), ctx).complete(call())

    message = str(caught.value)
    assert entry.gguf_filename in message
    assert "shoal models pull --force gemma3-270m" in message
    assert servers(ctx) == []


async def test_a_gguf_path_that_is_not_a_model_fails_to_start(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    ctx = ProviderContext(cache_dir=tmp_path, offline=True)

    async with ctx.exit_stack:
        with pytest.raises(ModelStartError, match=r"junk\.gguf"):
            await LocalProvider(member(str(junk)), ctx).complete(call())
