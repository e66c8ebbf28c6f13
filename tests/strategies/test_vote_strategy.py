"""The vote strategy's control flow with scripted members: early exit, adaptive asking, quorum, tools."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.engine import Orchestrator
from orchestrator.errors import BudgetExceeded, QuorumError
from orchestrator.types import Verdict
from tests.helpers import scripted_config


async def ask(config, question: str = "What is 3 + 4?", strategy: str = "v", **kwargs) -> Verdict:
    async with Orchestrator(config) as orch:
        return await orch.run(question, strategy=strategy, **kwargs)


def test_forms_of_one_half_agree_at_three_quarters() -> None:
    config = scripted_config(
        {
            "a": {"answers": ["1/2"]},
            "b": {"answers": ["0.5"]},
            "c": {"answers": [r"\frac{1}{2}"]},
            "d": {"answers": ["0.75"]},
        },
        '[strategies.v]\nkind = "vote"\nanswer_type = "number"\n',
    )
    verdict = asyncio.run(ask(config, "What is one half as a number?"))
    assert verdict.clusters[0].key == "1/2"
    assert verdict.confidence == 0.75
    assert "d said '0.75'" in verdict.dissent


def test_early_exit_returns_without_waiting_for_a_hanging_member_and_cancels_it() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["7"]}, "slow": {"fail": "hang"}},
        '[strategies.v]\nkind = "vote"\nearly_exit = true\n',
    )
    started = time.perf_counter()
    verdict = asyncio.run(ask(config))
    assert time.perf_counter() - started < 2.0
    assert verdict.answer == "7"
    slow = next(c for c in verdict.candidates if c.member == "slow")
    assert slow.error is not None and slow.error.type == "cancelled"
    assert "early exit: cancelled slow" in verdict.notes


def test_early_exit_waits_while_the_vote_can_still_turn() -> None:
    config = scripted_config(
        {
            "a": {"answers": ["7"]},
            "b": {"answers": ["8"]},
            "c": {"answers": ["7"], "latency_s": 0.2},
        },
        '[strategies.v]\nkind = "vote"\nearly_exit = true\n',
    )
    verdict = asyncio.run(ask(config))
    assert [c.error for c in verdict.candidates] == [None, None, None]
    assert verdict.answer == "7" and round(verdict.confidence, 2) == 0.67


def test_without_early_exit_the_vote_waits_for_everyone() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["7"]}, "c": {"answers": ["8"], "latency_s": 0.3}},
        '[strategies.v]\nkind = "vote"\n',
    )
    verdict = asyncio.run(ask(config))
    assert all(c.ok for c in verdict.candidates)
    assert round(verdict.confidence, 2) == 0.67


def test_adaptive_asks_more_members_only_while_undecided() -> None:
    agree = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["7"]}, "c": {"answers": ["7"]}, "d": {"answers": ["8"]}},
        '[strategies.v]\nkind = "vote"\nadaptive = true\ninitial = 2\n',
    )
    verdict = asyncio.run(ask(agree))
    # 2-0 with two left could still tie: ask c; 3-0 with one left cannot be caught: d is never asked
    assert [c.member for c in verdict.candidates] == ["a", "b", "c"]
    assert verdict.calls == 3
    assert verdict.answer == "7"

    split = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["8"]}, "c": {"answers": ["7"]}, "d": {"answers": ["7"]}},
        '[strategies.v]\nkind = "vote"\nadaptive = true\ninitial = 2\n',
    )
    verdict = asyncio.run(ask(split))
    assert verdict.calls == 4  # 1-1, then 2-1 with one left: still catchable, ask the last


def test_adaptive_default_start_decides_a_panel_of_three_in_two_calls() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["7"]}, "c": {"answers": ["8"]}},
        '[strategies.v]\nkind = "vote"\nadaptive = true\n',
    )
    verdict = asyncio.run(ask(config))
    assert verdict.calls == 2
    assert any("not asked: c" in n for n in verdict.notes)


def test_adaptive_beta_stopping_rule() -> None:
    members = {name: {"answers": ["7"]} for name in "abcdefg"}
    config = scripted_config(
        members, '[strategies.v]\nkind = "vote"\nadaptive = true\ninitial = 2\nstop_at = 0.95\n'
    )
    verdict = asyncio.run(ask(config))
    # 4 agreeing answers give P(leader is the majority) = 0.969 >= 0.95; without the rule it takes 4 too
    # (4 > 0 + 3 left), so check with a wider panel that the rule stops before the count does.
    assert verdict.calls == 4
    members = {name: {"answers": ["7"]} for name in "abcdefghijk"}
    wide = scripted_config(
        members, '[strategies.v]\nkind = "vote"\nadaptive = true\ninitial = 2\nstop_at = 0.95\n'
    )
    assert asyncio.run(ask(wide)).calls == 4


def test_quorum_is_an_error_not_a_guess() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"fail": "server_error", "max_retries": 0}},
        '[strategies.v]\nkind = "vote"\nmin_answers = 2\n',
    )
    with pytest.raises(QuorumError, match="1 of 2 members answered, 2 needed") as caught:
        asyncio.run(ask(config))
    assert "b" in caught.value.failures


def test_a_verdict_resting_on_one_answer_says_so() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"fail": "timeout", "max_retries": 0}},
        '[strategies.v]\nkind = "vote"\n',
    )
    verdict = asyncio.run(ask(config))
    assert verdict.confidence == 0.5
    assert "resting on a single answer (a), not cross-checked" in verdict.notes
    assert any(n.startswith("b failed (timeout") for n in verdict.notes)


def test_all_disagreeing_panel_abstains() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["8"]}, "c": {"answers": ["9"]}},
        '[strategies.v]\nkind = "vote"\nabstain_below = 0.5\n',
    )
    verdict = asyncio.run(ask(config))
    assert verdict.abstained
    assert verdict.answer.startswith("The panel could not agree (confidence 0.33")
    for answer in ("'7'", "'8'", "'9'"):
        assert answer in verdict.answer


def test_tool_calls_are_voted_on_canonically() -> None:
    paris = {"text": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Paris", "unit": "C"}}]}
    paris_reordered = {
        "text": "",
        "tool_calls": [{"name": "weather", "arguments": {"unit": "C", "city": "Paris"}}],
    }
    lyon = {"text": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Lyon", "unit": "C"}}]}
    config = scripted_config(
        {"a": {"answers": [paris]}, "b": {"answers": [paris_reordered]}, "c": {"answers": [lyon]}},
        '[strategies.v]\nkind = "vote"\n',
    )
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    verdict = asyncio.run(ask(config, "Weather in Paris?", params={"tools": tools}))
    assert round(verdict.confidence, 2) == 0.67
    assert verdict.tool_calls is not None
    assert verdict.tool_calls[0]["function"]["name"] == "weather"
    # the answer is the calling member's own text (none here), never the rendering the vote keys by
    assert verdict.answer == ""
    assert '"city":"Paris"' in verdict.clusters[0].answer
    assert verdict.clusters[0].members == ["a", "b"]


def test_max_calls_stops_adaptive_asking_with_a_partial_verdict() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["8"]}, "c": {"answers": ["7"]}},
        '[strategies.v]\nkind = "vote"\nadaptive = true\ninitial = 2\nmax_calls = 2\n',
    )
    verdict = asyncio.run(ask(config))
    assert verdict.partial
    assert verdict.calls == 2
    assert any("max_calls=2" in n for n in verdict.notes)


def test_a_first_round_over_budget_is_a_clear_error() -> None:
    config = scripted_config(
        {"a": {"answers": ["7"]}, "b": {"answers": ["8"]}, "c": {"answers": ["7"]}},
        '[strategies.v]\nkind = "vote"\n',
    )
    with pytest.raises(BudgetExceeded, match="max_calls=2 would be exceeded"):
        asyncio.run(ask(config, tags={"max_calls": 2}))


@given(
    st.lists(st.sampled_from(["7", "seven", "7.0", "8", "#### 8", "9"]), min_size=1, max_size=6),
    st.randoms(),
    st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_the_verdict_is_independent_of_member_order(answers: list[str], rnd, early: bool) -> None:
    members = {f"m{i}": {"answers": [a]} for i, a in enumerate(answers)}
    names = list(members)
    shuffled = names[:]
    rnd.shuffle(shuffled)
    extra = f'[strategies.v]\nkind = "vote"\nanswer_type = "number"\nearly_exit = {str(early).lower()}\n'
    ordered = scripted_config(dict(members), extra + f"[teams.t]\nmembers = {names!r}\n".replace("'", '"'))
    mixed = scripted_config(dict(members), extra + f"[teams.t]\nmembers = {shuffled!r}\n".replace("'", '"'))
    a, b = asyncio.run(ask(ordered, team="t")), asyncio.run(ask(mixed, team="t"))
    assert a.clusters[0].key == b.clusters[0].key
    if not early:  # an early exit counts the answers that came first, so only its winner is fixed
        assert a.confidence == b.confidence
        assert a.abstained == b.abstained
    # a tie no member weight breaks has no winner (the verdict abstains); otherwise the answer is a member's
    assert a.abstained or any(a.answer == c.text for c in a.candidates)


def test_code_answers_are_voted_on_by_the_tests_they_pass() -> None:
    config = scripted_config(
        {
            "a": {"answers": ["```python\ndef double(x):\n    return x * 2\n```"]},
            "b": {"answers": ["def double(n):\n    return n + n"]},
            "c": {"answers": ["def double(x):\n    return x ** 2"]},
        },
        '[strategies.v]\nkind = "vote"\nanswer_type = "code"\n'
        'tests = """\nassert double(3) == 6\nassert double(0) == 0\n"""\n',
    )
    verdict = asyncio.run(ask(config, "Write double(x)."))
    assert verdict.clusters[0].members == ["a", "b"]
    assert verdict.clusters[0].key == "tests:PP"
    assert verdict.clusters[1].key == "tests:FP"


def test_tests_can_come_with_the_request() -> None:
    config = scripted_config(
        {"a": {"answers": ["def f():\n    return 1"]}, "b": {"answers": ["def f():\n    return 2"]}},
        '[strategies.v]\nkind = "vote"\nanswer_type = "code"\n',
    )
    verdict = asyncio.run(ask(config, "Write f.", tags={"labels": {"tests": "assert f() == 1"}}))
    assert {c.key for c in verdict.clusters} == {"tests:P", "tests:F"}
