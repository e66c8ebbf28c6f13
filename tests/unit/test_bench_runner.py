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
