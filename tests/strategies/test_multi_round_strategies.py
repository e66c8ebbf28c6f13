"""Fusion, debate, cascade and council: their rounds, fallbacks, budgets and what each call is shown."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.engine import Orchestrator
from orchestrator.errors import BudgetExceeded, UsageError
from orchestrator.types import Verdict
from tests.helpers import scripted_config

TEAM = '[teams.t]\nmembers = ["a", "b", "c"]\n'
REVISES = {"when": "Other panelists answered", "answer": "On reflection, 42."}


def three(c_rules: list | None = None, **more: dict) -> dict:
    return {
        "a": {"answers": ["42"], "model": "m-a"},
        "b": {"answers": ["42"], "model": "m-b"},
        "c": {"answers": ["41"], "model": "m-c", "rules": c_rules or []},
        **more,
    }


async def ask(config, strategy: str, **kwargs) -> tuple[Verdict, Orchestrator]:
    orch = Orchestrator(config)
    return await orch.run("What is 6 x 7?", strategy=strategy, **kwargs), orch


def received(orch: Orchestrator, member: str) -> list:
    return list(orch.provider_for(orch.config.members[member]).received)


# -- fusion ----------------------------------------------------------------------------------


def test_fusion_layers_see_references_in_the_user_turn_and_the_aggregator_writes_the_answer() -> None:
    members = three([REVISES], agg={"answers": ["Six times seven is 42."]})
    config = scripted_config(
        members, TEAM + '[strategies.f]\nkind = "fusion"\nteam = "t"\nlayers = 2\naggregator = "agg"\n'
    )
    verdict, orch = asyncio.run(ask(config, "f"))
    assert verdict.calls == 7
    assert [c.role for c in verdict.candidates].count("propose") == 3
    assert verdict.answer == "Six times seven is 42."
    assert verdict.confidence == 1.0  # every layer-2 answer agrees with the aggregate
    layer2 = received(orch, "a")[-1].messages
    assert [m["role"] for m in layer2] == ["user"]
    assert '<reference id="' in layer2[0]["content"] and "41" in layer2[0]["content"]
    aggregate = received(orch, "agg")[-1].messages
    assert aggregate[0]["role"] == "system" and "42" not in aggregate[0]["content"]


def test_fusion_aggregator_fallback_and_vote_when_all_fail() -> None:
    down = {"fail": "server_error", "max_retries": 0}
    config = scripted_config(
        three(agg=down, backup={"answers": ["42"]}),
        TEAM + '[strategies.f]\nkind = "fusion"\nteam = "t"\naggregator = ["agg", "backup"]\n',
    )
    verdict, _ = asyncio.run(ask(config, "f"))
    assert verdict.calls == 5 and verdict.answer == "42"
    assert any(n.startswith("aggregator agg failed") for n in verdict.notes)
    config = scripted_config(
        three(agg=down), TEAM + '[strategies.f]\nkind = "fusion"\nteam = "t"\naggregator = "agg"\n'
    )
    verdict, _ = asyncio.run(ask(config, "f"))
    assert "no aggregator answered: the verdict is the vote over the last layer" in verdict.notes
    assert round(verdict.confidence, 2) == 0.67


def test_fusion_stops_layering_when_the_budget_runs_out() -> None:
    config = scripted_config(
        three(agg={"answers": ["42"]}),
        TEAM + '[strategies.f]\nkind = "fusion"\nteam = "t"\nlayers = 3\naggregator = "agg"\nmax_calls = 5\n',
    )
    verdict, _ = asyncio.run(ask(config, "f"))
    assert verdict.partial and verdict.calls == 3
    assert any("layer 2 not run" in n for n in verdict.notes)


# -- debate ----------------------------------------------------------------------------------


def test_debate_shows_own_answer_as_assistant_and_others_quoted_then_votes() -> None:
    config = scripted_config(
        three([REVISES]), TEAM + '[strategies.d]\nkind = "debate"\nteam = "t"\nrounds = 3\n'
    )
    verdict, orch = asyncio.run(ask(config, "d"))
    assert verdict.calls == 6  # answers, one round, then unanimous: stopped
    assert verdict.confidence == 1.0
    assert "unanimous after 1 round(s) of debate: stopped early" in verdict.notes
    assert any("changed their answer: c: '41'" in n for n in verdict.notes)
    user, own, others = received(orch, "c")[-1].messages
    assert (user["role"], own["role"], own["content"], others["role"]) == ("user", "assistant", "41", "user")
    assert others["content"].count('<answer id="') == 2
    assert all(m["role"] != "system" for m in received(orch, "c")[-1].messages)


def test_debate_rounds_and_budget() -> None:
    stubborn = scripted_config(three(), TEAM + '[strategies.d]\nkind = "debate"\nteam = "t"\nrounds = 2\n')
    verdict, _ = asyncio.run(ask(stubborn, "d"))
    assert verdict.calls == 9 and round(verdict.confidence, 2) == 0.67
    capped = scripted_config(
        three(), TEAM + '[strategies.d]\nkind = "debate"\nteam = "t"\nrounds = 2\nmax_calls = 7\n'
    )
    verdict, _ = asyncio.run(ask(capped, "d"))
    assert verdict.partial and verdict.calls == 6
    assert any("debate round 2 not run" in n for n in verdict.notes)


# -- cascade ---------------------------------------------------------------------------------

CASCADE = (
    TEAM
    + '[teams.strong]\nmembers = ["s1", "s2"]\n'
    + '[strategies.cheap]\nkind = "vote"\nteam = "t"\nanswer_type = "number"\n'
    + '[strategies.strong]\nkind = "vote"\nteam = "strong"\nanswer_type = "number"\n'
    + '[strategies.k]\nkind = "cascade"\nfirst = "cheap"\nthen = "strong"\nescalate_below = {}\n'
)


def test_cascade_escalates_only_below_the_threshold() -> None:
    strong = {"s1": {"answers": ["42"]}, "s2": {"answers": ["42"]}}
    calm = scripted_config(three(**strong), CASCADE.format(0.6))
    verdict, _ = asyncio.run(ask(calm, "k"))
    assert verdict.calls == 3 and verdict.strategy == "k"
    assert verdict.notes[0] == "cheap: confidence 0.67 >= 0.60, no escalation"
    unsure = scripted_config(three(**strong), CASCADE.format(0.7))
    verdict, _ = asyncio.run(ask(unsure, "k"))
    assert verdict.calls == 5
    assert verdict.notes[0] == "escalated to strong (cheap: confidence 0.67 < 0.70)"
    assert verdict.confidence == 0.8  # the strong stage counts the cheap answers too: 4 of 5
    assert {c.member for c in verdict.candidates} == {"a", "b", "c", "s1", "s2"}


def test_cascade_escalates_when_the_first_stage_has_no_quorum() -> None:
    down = {"fail": "server_error", "max_retries": 0}
    members = {"a": down, "b": down, "c": down, "s1": {"answers": ["42"]}, "s2": {"answers": ["42"]}}
    verdict, _ = asyncio.run(ask(scripted_config(members, CASCADE.format(0.7)), "k"))
    assert verdict.answer == "42" and verdict.confidence == 1.0
    assert "had no quorum" in verdict.notes[0]


def test_cascade_returns_the_first_stage_as_partial_when_the_budget_cannot_pay_for_the_second() -> None:
    strong = {"s1": {"answers": ["42"]}, "s2": {"answers": ["42"]}}
    capped = CASCADE.format(0.7) + "max_calls = 4\n"  # the cascade's own budget
    verdict, _ = asyncio.run(ask(scripted_config(three(**strong), capped), "k"))
    assert verdict.partial and verdict.calls == 3 and verdict.answer == "42"
    assert any("max_calls=4" in n for n in verdict.notes)


def test_the_callers_budget_is_an_error_even_where_a_strategy_could_stop_early() -> None:
    strong = {"s1": {"answers": ["42"]}, "s2": {"answers": ["42"]}}
    with pytest.raises(BudgetExceeded, match="max_calls=4 would be exceeded: 3 made, 2 more needed"):
        asyncio.run(ask(scripted_config(three(**strong), CASCADE.format(0.7)), "k", tags={"max_calls": 4}))


def test_a_cascade_that_runs_itself_is_a_clear_error() -> None:
    config = scripted_config(
        three(), TEAM + '[strategies.k]\nkind = "cascade"\nfirst = "k"\nthen = "vote"\nescalate_below = 0.7\n'
    )
    with pytest.raises(UsageError, match="strategy cycle: k -> k"):
        asyncio.run(ask(config, "k"))


# -- council ---------------------------------------------------------------------------------

RANK_42 = {
    "when": r'<candidate id="(\d+)">\s*42\s*</candidate>.*Rank the candidates',
    "answer": r"RANKING: \1",
}


def test_council_ranks_others_anonymously_and_the_chairman_synthesises() -> None:
    members = {
        "a": {"answers": ["42"], "rules": [RANK_42]},
        "b": {"answers": ["42"], "rules": [RANK_42]},
        "c": {"answers": ["41"], "rules": [{"when": "Rank the candidates", "answer": "RANKING: 2 > 1"}]},
        "chair": {"answers": ["The council's answer: 42"]},
    }
    config = scripted_config(
        members, TEAM + '[strategies.co]\nkind = "council"\nteam = "t"\nchairman = "chair"\n'
    )
    verdict, orch = asyncio.run(ask(config, "co"))
    assert verdict.calls == 7
    assert [c.role for c in verdict.candidates].count("rank") == 3
    assert "3 peer ranking(s) collected" in verdict.notes
    assert round(verdict.confidence, 2) == 0.67
    rank_prompt = received(orch, "c")[-1].messages[1]["content"]
    assert "41" not in rank_prompt.split("</question>")[1]  # c never ranks its own answer
    chair_prompt = received(orch, "chair")[-1].messages[1]["content"]
    assert "Peer ranking, best first: candidate" in chair_prompt


def test_council_falls_back_to_the_best_ranked_answer_when_no_chairman_answers() -> None:
    members = {
        "a": {"answers": ["42"], "rules": [RANK_42]},
        "b": {"answers": ["40"], "rules": [RANK_42]},
        "c": {"answers": ["41"], "rules": [RANK_42]},
        "chair": {"fail": "server_error", "max_retries": 0},
    }
    config = scripted_config(
        members, TEAM + '[strategies.co]\nkind = "council"\nteam = "t"\nchairman = "chair"\n'
    )
    verdict, _ = asyncio.run(ask(config, "co"))
    assert verdict.answer == "42"
    assert any("best peer-ranked answer (a)" in n for n in verdict.notes)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ('kind = "judge"\njudges = ["nobody"]', "strategies.x.judges"),
        ('kind = "fusion"\naggregator = "nobody"', "strategies.x.aggregator"),
        ('kind = "council"\nchairman = ["a", "nobody"]', "strategies.x.chairman"),
        ('kind = "cascade"\nfirst = "vote"\nthen = "nothing"', "strategies.x.then"),
        ('kind = "vote"\nearly_exits = true', "strategies.x.early_exits"),
    ],
)
def test_config_mistakes_name_the_key(section: str, key: str) -> None:
    from orchestrator.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        scripted_config(three(), f"[strategies.x]\n{section}\n")
