"""The engine end to end with fakes: respx behind real providers, nesting, the public API."""

from __future__ import annotations

import httpx
import pytest
import respx

import orchestrator
from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import EmptyRequestError, UnknownNameError
from tests.helpers import scripted_toml, write_config

UPSTREAM = "http://upstream.test/v1"


def completion(text: str) -> dict:
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


HTTP_PANEL = f"""
[members.compat]
provider = "openai_compat"
model = "m"
api_base = "{UPSTREAM}"
input_cost_per_token = 0.000001
output_cost_per_token = 0.000002

[members.lite]
provider = "litellm"
model = "openai/m"
api_base = "{UPSTREAM}"
api_key_env = "SHOAL_TEST_KEY"

[members.other]
provider = "scripted"
model = "s"
answers = ["41"]

[defaults]
max_retries = 2
"""


@pytest.fixture
def http_orch(monkeypatch: pytest.MonkeyPatch) -> Orchestrator:
    import litellm

    monkeypatch.setattr(litellm, "disable_aiohttp_transport", True)
    monkeypatch.setenv("SHOAL_TEST_KEY", "sk-test")
    return Orchestrator(parse_config(HTTP_PANEL, source="http.toml"))


@pytest.mark.respx(using="httpx")  # mocks any transport, the openai_compat member's lean one too
async def test_a_rate_limited_member_is_retried_through_the_panel(
    http_orch: Orchestrator, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(f"{UPSTREAM}/chat/completions").mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}}),
            httpx.Response(200, json=completion("42")),
            httpx.Response(200, json=completion("42")),
        ]
    )
    async with http_orch as orch:
        verdict = await orch.run("What is six times seven?", strategy="vote")
    assert route.call_count == 3
    assert verdict.answer == "42"
    assert round(verdict.confidence, 2) == 0.67
    assert sorted(c.attempts for c in verdict.candidates if c.member != "other") == [1, 2]
    other = next(c for c in verdict.candidates if c.member == "other")
    assert verdict.usage.total_tokens == 12 + 12 + other.usage.total_tokens
    compat = next(c for c in verdict.candidates if c.member == "compat")
    assert compat.cost_usd == pytest.approx(10e-6 + 4e-6)


@pytest.mark.respx(using="httpx")
async def test_an_http_failure_is_reported_not_raised(
    http_orch: Orchestrator, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(f"{UPSTREAM}/chat/completions").mock(
        return_value=httpx.Response(401, json={"error": {"message": "bad key"}})
    )
    async with http_orch as orch:
        verdict = await orch.run("q?", strategy="vote")
    assert verdict.answer == "41"
    assert verdict.failures.keys() == {"compat", "lite"}
    assert all(c.attempts == 1 for c in verdict.candidates)  # 401 is not retried


async def test_an_orchestrator_is_a_member_of_another(tmp_path) -> None:
    inner = write_config(tmp_path / "inner.toml", {"x": {"answers": ["42"]}, "y": {"answers": ["42"]}})
    outer = parse_config(
        scripted_toml({"plain": {"answers": ["41"]}})
        + f'\n[members.panel]\nprovider = "shoal"\nmodel = "vote"\nconfig = "{inner}"\nweight = 2.0\n',
        source="outer.toml",
    )
    async with Orchestrator(outer) as orch:
        verdict = await orch.run("q?", strategy="vote")
    assert verdict.answer == "42"
    panel = next(c for c in verdict.candidates if c.member == "panel")
    assert panel.model == "shoal/vote"
    assert panel.usage.total_tokens > 0


async def test_empty_and_unknown_names_are_usage_errors() -> None:
    orch = Orchestrator(parse_config(scripted_toml({"a": {}}), source="t.toml"))
    with pytest.raises(EmptyRequestError):
        await orch.run("  ")
    with pytest.raises(EmptyRequestError):
        await orch.run([{"role": "user", "content": ""}])
    with pytest.raises(UnknownNameError, match="unknown strategy 'nope'"):
        await orch.run("q", strategy="nope")
    with pytest.raises(UnknownNameError, match="unknown team 'nope'"):
        await orch.run("q", team="nope")


async def test_messages_params_and_tags_reach_the_verdict() -> None:
    orch = Orchestrator(parse_config(scripted_toml({"a": {"answers": ["ok"]}}), source="t.toml"))
    verdict = await orch.run(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Write a poem about rain"}],
        params={"temperature": 0.2},
        tags={"category": "creative"},
    )
    assert verdict.route is not None and verdict.route.category == "creative"
    assert verdict.request_id and verdict.request_id.startswith("req_")
    assert verdict.latency_s > 0


class Refusing:
    """A classifier that must not be asked."""

    def classify(self, text: str) -> None:
        raise AssertionError(f"classified {text!r} although the strategy was chosen")


async def test_a_chosen_strategy_is_not_classified() -> None:
    config = parse_config(scripted_toml({"a": {"answers": ["42"]}}), source="t.toml")
    orch = Orchestrator(config, classifier=Refusing())  # type: ignore[arg-type]
    verdict = await orch.run("What is six times seven?", strategy="vote")
    assert verdict.answer == "42"
    assert verdict.route is not None
    assert (verdict.route.category, verdict.route.strategy) == ("chosen", "vote")
    assert verdict.route.reason == "chosen by caller"
    tagged = await orch.run("Write a poem", strategy="vote", tags={"category": "creative"})
    assert tagged.route is not None and tagged.route.category == "creative"
    with pytest.raises(AssertionError, match="classified"):
        await orch.run("What is six times seven?")


def test_public_api_is_pinned() -> None:
    assert sorted(orchestrator.__all__) == sorted(
        [
            "AuthenticationError",
            "BadRequestError",
            "BudgetExceeded",
            "Candidate",
            "CircuitOpen",
            "Cluster",
            "Completion",
            "ConfigError",
            "EmptyRequestError",
            "Member",
            "Message",
            "ModelChecksumError",
            "ModelError",
            "ModelStartError",
            "Orchestrator",
            "PolicyError",
            "ProviderConnectionError",
            "ProviderError",
            "ProviderTimeout",
            "QuorumError",
            "RateLimited",
            "Request",
            "Route",
            "ServerError",
            "ShoalConfig",
            "ShoalError",
            "Tags",
            "UnknownNameError",
            "Usage",
            "UsageError",
            "Verdict",
            "load_config",
        ]
    )
    for name in orchestrator.__all__:
        assert hasattr(orchestrator, name)
