"""Scoring: by answer type with the strategies' equivalence, code by running tests; never crashes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.prompts import question_of
from orchestrator.bench.scoring import extract_code, program_for, run_tests, score
from strategies.answers import equivalent


def item(answer: str, answer_type: str, **extra: object) -> BenchItem:
    return BenchItem.model_validate(
        {"id": "i", "question": "q", "answer": answer, "answer_type": answer_type, **extra}
    )


@pytest.mark.parametrize(
    ("gold", "kind", "answer", "right"),
    [
        ("18", "number", "9 * 2 = 18. The answer is 18.", True),
        ("1000", "number", "The answer is 1,000.", True),
        ("18", "number", "The answer is 19.", False),
        ("C", "choice", "The answer is C.", True),
        ("C", "choice", "C. Planetary days will become shorter.", True),
        ("C", "choice", "B", False),
        ("yes", "yesno", "Yes, it is.", True),
        ("no", "yesno", "Yes.", False),
        ("Paris", "text", "The capital of France is Paris.", True),
        ("Paris", "text", "Lyon", False),
    ],
)
def test_answer_types(gold: str, kind: str, answer: str, right: bool) -> None:
    choices = {"choices": ["a", "b", "c", "d"]} if kind == "choice" else {}
    assert score(item(gold, kind, **choices), answer).correct is right


@settings(max_examples=150, deadline=None)
@given(answer=st.text(max_size=200), kind=st.sampled_from(["number", "choice", "yesno", "text", "json"]))
def test_scoring_agrees_with_the_vote_equivalence_and_never_raises(answer: str, kind: str) -> None:
    gold = {"number": "42", "choice": "B", "yesno": "yes", "text": "Paris", "json": '{"a": 1}'}[kind]
    judged = item(gold, kind)
    result = score(judged, answer)
    assert result.correct == equivalent(answer, gold, kind, question_of(judged))  # type: ignore[arg-type]


def test_an_answer_that_cannot_be_scored_counts_as_wrong() -> None:
    result = score(item("42", "number"), None)  # type: ignore[arg-type]
    assert result.correct is False
    assert result.note and "could not score" in result.note


ADD = {
    "question": "def add(a, b):\n    ",
    "answer_type": "code",
    "entry_point": "add",
    "tests": "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n",
}


def code_item() -> BenchItem:
    return BenchItem.model_validate({"id": "c", **ADD})


@pytest.mark.parametrize(
    ("answer", "right"),
    [
        ("```python\ndef add(a, b):\n    return a + b\n```", True),
        ("Here you go:\n```py\ndef add(a, b):\n    return b + a\n```\nDone.", True),
        ("return a + b\n", True),  # a body only: completed from the stub
        ("```python\ndef add(a, b):\n    return a - b\n```", False),
        ("```python\ndef add(a, b) return\n```", False),
        ("I cannot write code.", False),
        ("```python\nimport os\nos._exit(3)\n```", False),
    ],
)
def test_code_runs_its_tests(answer: str, right: bool) -> None:
    assert score(code_item(), answer).correct is right


def test_code_that_hangs_times_out() -> None:
    result = score(
        code_item(), "```python\ndef add(a, b):\n    while True:\n        pass\n```", code_timeout_s=1
    )
    assert not result.correct
    assert result.extracted == "timed out after 1 s"


def test_code_runs_in_a_fresh_empty_directory() -> None:
    passed, detail = run_tests("import os\nassert os.listdir('.') == ['candidate.py'], os.listdir('.')", "")
    assert passed, detail


def test_extract_code_prefers_the_block_with_a_function() -> None:
    text = "```\npip install x\n```\n```python\ndef f():\n    return 1\n```"
    assert extract_code(text).startswith("def f")
    assert extract_code("no fences") == "no fences"
    stub = BenchItem.model_validate(
        {"id": "s", **{**ADD, "question": "from typing import List\n\ndef add(a, b):\n"}}
    )
    assert program_for(stub, "def add(a: List, b):\n    return 1").startswith("from typing import List")
