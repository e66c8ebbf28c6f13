"""Self-consistency: a member with ``samples = k`` votes as k seats, in every strategy that fans out."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.engine import Orchestrator
from orchestrator.errors import ConfigError
from orchestrator.types import Member
from tests.helpers import scripted_config

SAMPLED = {"answers": ["42", "41", "42"], "samples": 3, "params": {"temperature": 0.7, "seed": 5}}


def run(extra: str, strategy: str, question: str = "What is 6 x 7?", **more: dict) -> object:
    config = scripted_config({"q": dict(SAMPLED), **more}, extra)
    return asyncio.run(Orchestrator(config).run(question, strategy=strategy))


def test_three_samples_are_three_candidates_and_a_vote_over_them() -> None:
    verdict = run('[strategies.sc]\nkind = "vote"\nanswer_type = "number"\n', "sc")
    answers = [c for c in verdict.candidates if c.role == "answer"]
    assert sorted(c.member for c in answers) == ["q#1", "q#2", "q#3"]
    assert sorted(c.text or "" for c in answers) == ["41", "42", "42"]
    assert verdict.answer == "42" and verdict.confidence == pytest.approx(2 / 3)
    assert verdict.calls == 3


def test_each_seat_has_its_own_seed_and_sample_of() -> None:
    seats = Member(name="q", provider="scripted", model="m", samples=3, params={"seed": 5}).seats()
    assert [(s.name, s.sample_of, s.params["seed"], s.samples) for s in seats] == [
        ("q#1", "q", 5, 1),
        ("q#2", "q", 6, 1),
        ("q#3", "q", 7, 1),
    ]
    assert Member(name="q", provider="scripted", model="m").seats()[0].name == "q"


def test_samples_inside_judge_fusion_and_cascade_show_each_sample() -> None:
    judge = {
        "model": "judge-model",
        "answers": ["?"],
        "rules": [{"when": r'<candidate id="(\d+)">\s*42\s*</candidate>', "answer": r"BEST: \1"}],
    }
    extra = (
        '[teams.t]\nmembers = ["q"]\n'
        '[strategies.j]\nkind = "judge"\nteam = "t"\nanswer_type = "number"\njudges = ["ref"]\n'
        '[strategies.f]\nkind = "fusion"\nteam = "t"\nanswer_type = "number"\naggregator = "ref"\n'
        '[strategies.v]\nkind = "vote"\nteam = "t"\nanswer_type = "number"\n'
        '[strategies.c]\nkind = "cascade"\nfirst = "v"\nthen = "j"\nescalate_below = 0.9\n'
    )
    for strategy in ("j", "f", "c"):
        verdict = run(extra, strategy, ref=dict(judge))
        sampled = sorted(c.member for c in verdict.candidates if c.role == "answer")
        assert sampled == ["q#1", "q#2", "q#3"], strategy
        if strategy != "f":  # the scripted aggregator writes what its rule says; the others pick 42
            assert verdict.answer == "42", strategy
    cascade = run(extra, "c", ref=dict(judge))
    assert any(n.startswith("escalated to j") for n in cascade.notes)
    assert any("reused 3 answers" in n for n in cascade.notes)


def test_samples_with_temperature_zero_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="temperature above 0"):
        scripted_config({"q": {"answers": ["42"], "samples": 3, "params": {"temperature": 0.0}}})


@pytest.mark.slow
def test_a_local_member_sends_one_request_with_n_for_its_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp's server answers ``n = 3`` with three choices: one request, three seats."""
    from orchestrator.config import parse_config
    from providers.openai_compat import OpenAICompatProvider
    from tests.providers.test_local_model import require, user_cache_dir

    require("smollm2-135m-instruct")
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(user_cache_dir()))
    sent: list[object] = []
    original = OpenAICompatProvider.complete

    async def counted(self: OpenAICompatProvider, call: object) -> object:
        sent.append(call.params.get("n"))  # type: ignore[attr-defined]
        return await original(self, call)  # type: ignore[arg-type]

    monkeypatch.setattr(OpenAICompatProvider, "complete", counted)
    config = parse_config(
        '[members.s]\nprovider = "local"\nmodel = "smollm2-135m-instruct"\nlocality = "local"\nsamples = 3\n'
        "params = { temperature = 0.9, max_tokens = 12, seed = 3 }\n"
        'options = { n_parallel = 4, threads = 1 }\n[strategies.sc]\nkind = "vote"\n',
        source="test.toml",
    )

    async def ask() -> object:
        async with Orchestrator(config) as orch:
            return await orch.run("Name a colour.", strategy="sc")

    verdict = asyncio.run(ask())
    assert sent == [3]
    answers = [c for c in verdict.candidates if c.role == "answer"]  # type: ignore[attr-defined]
    assert sorted(c.member for c in answers) == ["s#1", "s#2", "s#3"]
    assert all(c.ok and c.text for c in answers)
