"""One ``shoal serve`` for the conformance tests, in front of a fake upstream that calls a tool.

The upstream (an OpenAI-compatible server on loopback) streams for real: it
writes "Let me check." a token at a time, then calls ``get_weather`` with its
arguments in pieces; once the conversation ends with the tool's result it
answers "It is <result> in Paris.". Served models: the members ``agent`` and
``agent2`` on it (asked directly: streamed through), ``shoal/agents`` (a vote
of the two), ``shoal/vote`` (a vote of scripted members) and ``shoal/fused``.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest

from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, Served, running, serve_env, start_serve

TEXT = "Let me check."
CALL = {
    "id": "call_w1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
FINAL = "It is {result} in Paris."
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

EXTRA = """
[members.agent]
provider = "openai_compat"
model = "tool-model"
api_base = "{upstream}"
max_retries = 0

[members.agent2]
provider = "openai_compat"
model = "tool-model"
api_base = "{upstream}"
max_retries = 0

[members.embedder]
provider = "openai_compat"
model = "embed-model"
api_base = "{upstream}"
max_retries = 0

[members.lite-embedder]
provider = "litellm"
model = "openai/embed-model"
api_base = "{upstream}"
api_key_env = "EMBED_UPSTREAM_KEY"
max_retries = 0

[members.e5]
provider = "local_embedding"
model = "multilingual-e5-small"
locality = "local"

[teams.agents]
members = ["agent", "agent2"]

[teams.panel]
members = ["alice", "bob", "carol"]

[strategies.agents]
kind = "vote"
team = "agents"

[strategies.vote]
kind = "vote"
team = "panel"

[strategies.fused]
kind = "fusion"
team = "panel"
aggregator = "talker"

[defaults]
strategy = "vote"
team = "panel"
max_retries = 0

[policy.confidential]
allow = ["locality:local"]

[server]
heartbeat_s = 0.2

[server.model_aliases]
"claude-test-sonnet" = "agent"
"claude-vote" = "shoal/agents"
"agents-vote" = "shoal/agents"
"{agents_default}" = "agent"
"""
PANEL = {
    "alice": {"answers": ["42"]},
    "bob": {"answers": ["42"]},
    "carol": {"answers": ["41"]},
    "talker": {"answers": ["The answer is forty two"]},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The clients under test leave some of their own connections for the garbage collector
    (litellm's and the sync wrappers' event loops): that is theirs, not a failure of ours."""
    for item in items:
        if _drives_clients(item):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))


def _drives_clients(item: pytest.Item) -> bool:
    """The client tests of this directory (not the equivalence data's)."""
    here = item.path.parent.name == "conformance"
    return here and (item.path.name.endswith("_clients.py") or item.path.name == "test_other_surfaces.py")


@pytest.fixture(autouse=True)
def _collect_client_garbage(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect what a client left behind while its warnings are ignored, so it cannot surface
    later, in another test."""
    yield
    if not _drives_clients(request.node):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def agents_default_model() -> str:
    """The model the OpenAI Agents SDK asks for when it is given none (the server aliases it)."""
    try:
        from agents.models import get_default_model
    except ImportError:  # the clients extra is not installed
        return "gpt-default"
    return str(get_default_model())


def tool_upstream() -> FakeUpstream:
    return FakeUpstream(tokens=["Let", " me", " check."], gap_s=0.01, tool_calls=[CALL], after_tool=FINAL)


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = tool_upstream()
    with running(fake.app()) as port:
        fake.port = port
        yield fake


@pytest.fixture
def fresh(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset(tokens=["Let", " me", " check."], gap_s=0.01, tool_calls=[CALL], after_tool=FINAL)
    return upstream


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("conformance")
    config = workdir / "shoal.toml"
    members = {k: dict(v) for k, v in PANEL.items()}
    extra = EXTRA.format(upstream=upstream.base_url, agents_default=agents_default_model())
    config.write_text(scripted_toml(members, extra), encoding="utf-8")
    server = start_serve(config, workdir, env=serve_env(EMBED_UPSTREAM_KEY="unused"))
    yield server
    server.stop()


def no_rendering(bodies: list[dict[str, object]]) -> None:
    """No request the members received carries the vote's rendering of a tool call."""
    for body in bodies:
        for message in body.get("messages", []):  # type: ignore[union-attr]
            assert "get_weather(" not in str(message.get("content")), message  # type: ignore[union-attr]
