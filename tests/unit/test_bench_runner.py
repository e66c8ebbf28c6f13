"""The runner: strategies by name with the item's answer type, the panel alone, resume by fingerprint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.runner import BenchRunner, BenchSettings, critical_path
from orchestrator.types import Candidate
from tests.helpers import scripted_config

ITEMS = [
    BenchItem(id="n1", question="6 x 7?", answer="42", answer_type="number"),
    BenchItem(id="c1", question="Largest?", choices=["Mars", "Jupiter"], answer="B", answer_type="choice"),
]


def members(extra: str = "") -> object:
    return scripted_config(
        {
            "a": {"answers": ["The answer is 42.", "B"]},
            "b": {"answers": ["42", "The answer is B."]},
            "c": {"answers": ["forty-one: 41", "A"]},
        },
        '[strategies.vote]\nkind = "vote"\n' + extra,
    )


def run(config: object, out: Path, strategies: list[str]) -> BenchRunner:
    runner = BenchRunner(
        config, ITEMS, {"name": "t"}, BenchSettings(strategies=strategies, out=out, concurrency=1)
    )  # type: ignore[arg-type]
    runner.prepare()
    asyncio.run(runner.run())
    return runner


def test_strategies_get_the_item_answer_type_and_members_answer_alone(tmp_path: Path) -> None:
    runner = run(members(), tmp_path, ["vote"])
    assert runner.bench_config.strategies["vote@number"].options()["answer_type"] == "number"
    assert runner.bench_config.strategies["vote@choice"].options()["answer_type"] == "choice"
    assert runner.bench_config.strategies["member:a@choice"].options() == {
        "member": "a",
        "answer_type": "choice",
    }
    rows = {(r["item"], r["strategy"]): r for r in runner.outcome(complete=True).rows}
    assert len(rows) == 2 * 4
    # "The answer is 42." and "42" are one answer for a number vote, and the gold
    assert rows[("n1", "vote")]["status"] == "correct"
    assert rows[("c1", "vote")]["status"] == "correct"
    assert rows[("n1", "member:c")]["status"] == "wrong"
    assert rows[("n1", "vote")]["extracted"] == "42"
    assert [c["member"] for c in rows[("n1", "vote")]["candidates"]] == ["a", "b", "c"]


def test_a_changed_strategy_is_run_again_and_the_rest_is_kept(tmp_path: Path) -> None:
    run(members(), tmp_path, ["vote"])
    before = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    changed = run(members("min_answers = 3\n"), tmp_path, ["vote"])
    after = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(after) == len(before) == 8
    old_vote = {r["fp"] for r in before if r["strategy"] == "vote"}
    new_vote = {r["fp"] for r in after if r["strategy"] == "vote"}
    assert old_vote != new_vote
    kept = [r for r in after if r["strategy"].startswith("member:")]
    assert kept == [r for r in before if r["strategy"].startswith("member:")]
    assert changed.outcome(complete=True).new_calls == 0  # re-run from the cache


def test_critical_path_is_the_slowest_call_of_each_round() -> None:
    def c(member: str, role: str, latency: float) -> Candidate:
        return Candidate(member=member, model="m", role=role, text="x", latency_s=latency)

    assert critical_path([]) == 0
    assert critical_path([c("a", "answer", 0.2), c("b", "answer", 0.5)]) == 0.5
    assert critical_path([c("a", "answer", 0.2), c("b", "answer", 0.5), c("j", "judge", 0.3)]) == 0.8


def test_a_cascade_runs_its_stages_with_the_item_answer_type_and_its_notes_are_recorded(
    tmp_path: Path,
) -> None:
    config = members(
        '[strategies.strict]\nkind = "vote"\n'
        '[strategies.steps]\nkind = "cascade"\nfirst = "vote"\nthen = "strict"\nescalate_below = 0.6\n'
    )
    runner = run(config, tmp_path, ["steps"])
    typed = runner.bench_config.strategies
    assert typed["steps@choice"].options()["first"] == "steps>vote@choice"
    assert typed["steps>vote@choice"].options()["answer_type"] == "choice"
    assert typed["steps>strict@number"].options()["answer_type"] == "number"
    rows = {(r["item"], r["strategy"]): r for r in runner.outcome(complete=True).rows}
    # typed as a choice, "B" and "The answer is B." agree: 2 of 3, no escalation
    assert rows[("c1", "steps")]["status"] == "correct"
    assert rows[("c1", "steps")]["notes"][0] == "steps>vote@choice: confidence 0.67 >= 0.60, no escalation"
    assert rows[("n1", "member:a")]["notes"] == ["resting on a single answer (a), not cross-checked"]


def test_the_summary_warns_about_empty_members_and_unusable_judges(tmp_path: Path) -> None:
    from orchestrator.bench.report import build_summary, render_markdown

    config = scripted_config(
        {
            "a": {"answers": ["42", "B"]},
            "b": {"answers": ["41", "A"]},
            "mute": {"answers": [""]},
            "ref": {"answers": [" Y."]},
        },
        '[teams.panel]\nmembers = ["a", "b", "mute"]\n'
        '[strategies.judged]\nkind = "judge"\nteam = "panel"\njudges = ["ref"]\n',
    )
    runner = run(config, tmp_path, ["judged"])
    summary = build_summary(runner.outcome(complete=True), {"name": "t"})
    warnings = summary["warnings"]
    assert any(w.startswith("member mute: 2 of 2 answers (100%) are empty or unparseable") for w in warnings)
    assert not any(w.startswith("member a:") for w in warnings)
    assert any(w.startswith("judged: judge ref gave no usable pick in 2 of 2 judgements") for w in warnings)
    assert "## Warnings" in render_markdown(summary)
