"""The judge: anonymised, shuffled candidates; never its own model's; a fallback chain."""

from __future__ import annotations

import asyncio
import re

from orchestrator.engine import Orchestrator
from orchestrator.types import Verdict
from tests.helpers import scripted_config

PICK_42 = {"when": r'<candidate id="(\d+)">\s*42\s*</candidate>', "answer": r"BEST: \1"}


def panel(judge: dict, extra: str = "", **more: dict) -> object:
    members = {
        "a": {"answers": ["42"], "model": "m-a"},
        "b": {"answers": ["41"], "model": "m-b"},
        "c": {"answers": ["40"], "model": "m-c"},
        "judge": {"model": "m-judge", **judge},
        **more,
    }
    return scripted_config(
        members,
        '[teams.t]\nmembers = ["a", "b", "c"]\n'
        '[strategies.j]\nkind = "judge"\nteam = "t"\nanswer_type = "number"\n' + extra,
    )


async def run(config, question: str = "What is 6 x 7?") -> tuple[Verdict, Orchestrator]:
    orch = Orchestrator(config)
    verdict = await orch.run(question, strategy="j")
    return verdict, orch


def test_the_judge_picks_a_candidate_shown_anonymised_and_shuffled() -> None:
    config = panel({"rules": [PICK_42], "answers": ["?"]}, 'judges = ["judge"]\n')
    verdict, orch = asyncio.run(run(config))
    assert verdict.answer == "42"
    assert verdict.confidence == (1 + 1) / (3 + 1)
    judge_call = orch.provider_for(orch.config.members["judge"]).received[-1]
    system, user = judge_call.messages
    assert system["role"] == "system" and "42" not in system["content"]
    assert user["role"] == "user"
    for name in ("a", "b", "c", "m-a", "m-b"):
        assert f"member {name}" not in user["content"] and f'"{name}"' not in user["content"]
    shown = re.findall(r'<candidate id="(\d+)">\s*(\S+)\s*</candidate>', user["content"])
    assert sorted(t for _, t in shown) == ["40", "41", "42"]
    assert [i for i, _ in shown] == ["1", "2", "3"]


def test_candidates_are_shuffled_by_a_seed_taken_from_their_content() -> None:
    from strategies.prompts import labelled

    orders = {tuple(i for _, i in labelled([f"answer {n}", "x", "y", "z"])) for n in range(30)}
    assert len(orders) > 5  # not the team order every time
    assert labelled(["a", "b", "c"]) == labelled(["a", "b", "c"])  # replayable


def test_the_judge_never_sees_a_candidate_from_its_own_model() -> None:
    # b runs the judge's model: its answer must not reach the judge.
    members = {
        "a": {"answers": ["42"], "model": "m-a"},
        "b": {"answers": ["41"], "model": "m-judge"},
        "c": {"answers": ["40"], "model": "m-c"},
        "judge": {"model": "m-judge", "rules": [PICK_42], "answers": ["?"]},
    }
    config = scripted_config(
        members,
        '[teams.t]\nmembers = ["a", "b", "c", "judge"]\n'
        '[strategies.j]\nkind = "judge"\nteam = "t"\nanswer_type = "number"\njudges = ["judge"]\n',
    )
    verdict, orch = asyncio.run(run(config))
    judge_calls = [
        c for c in orch.provider_for(orch.config.members["judge"]).received if len(c.messages) == 2
    ]
    content = judge_calls[-1].messages[1]["content"]
    assert "41" not in content  # b's answer, from the judge's model
    assert "<candidate" in content and "42" in content and "40" in content
    assert content.count('<candidate id="') == 2  # the judge's own answer ("?") is not shown either
    assert verdict.answer == "42"


def test_a_failing_judge_hands_over_to_the_next() -> None:
    config = panel(
        {"fail": "server_error", "max_retries": 0},
        'judges = ["judge", "backup"]\n',
        backup={"model": "m-backup", "rules": [PICK_42], "answers": ["?"]},
    )
    verdict, _ = asyncio.run(run(config))
    assert verdict.answer == "42"
    assert any(n.startswith("judge judge failed (server_error)") for n in verdict.notes)
    assert "judge backup picked '42'" in verdict.notes
    assert [c.role for c in verdict.candidates].count("judge") == 2


def test_a_judge_without_a_usable_pick_hands_over_too() -> None:
    config = panel(
        {"answers": ["They all look fine to me."]},
        'judges = ["judge", "backup"]\n',
        backup={"model": "m-backup", "rules": [PICK_42], "answers": ["?"]},
    )
    verdict, _ = asyncio.run(run(config))
    assert verdict.answer == "42"
    assert any("no candidate id in its reply" in n for n in verdict.notes)


def test_when_no_judge_can_decide_the_verdict_is_the_vote_and_says_so() -> None:
    config = panel({"fail": "server_error", "max_retries": 0}, 'judges = ["judge"]\nabstain_below = 0.5\n')
    verdict, _ = asyncio.run(run(config))
    assert "no judge could decide: the verdict is the plain vote" in verdict.notes
    assert verdict.abstained  # three different answers: 0.33


def test_a_unanimous_panel_needs_no_judge() -> None:
    members = {
        "a": {"answers": ["42"]},
        "b": {"answers": ["42.0"]},
        "judge": {"fail": "hang"},
    }
    config = scripted_config(
        members,
        '[teams.t]\nmembers = ["a", "b"]\n[strategies.j]\nkind = "judge"\nteam = "t"\njudges = ["judge"]\n',
    )
    verdict, _ = asyncio.run(run(config))
    assert verdict.calls == 2 and verdict.confidence == 1.0
    assert "unanimous: no judge needed" in verdict.notes
