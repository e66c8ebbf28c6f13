"""Benchmark items: the JSONL schema users write, and loading a dataset by name or file.

One JSON object per line::

    {"id": "q1", "question": "What is 6 x 7?", "answer": "42", "answer_type": "number"}
    {"id": "q2", "question": "Largest planet?", "choices": ["Mars", "Jupiter"], "answer": "B",
     "answer_type": "choice"}
    {"id": "q3", "messages": [{"role": "user", "content": "..."}], "answer": "yes", "answer_type": "yesno"}
    {"id": "q4", "question": "def add(a, b):\\n", "answer_type": "code", "entry_point": "add",
     "tests": "assert add(2, 3) == 5"}

``answer_type`` is one of ``number``, ``choice``, ``yesno``, ``text``, ``json``, ``code``.
A ``choice`` answer is the letter of the right choice (or its text, turned into
the letter). A ``code`` item's ``tests`` is Python that must run without error
after the answer's code; ``answer`` may hold a reference solution.

>>> item = BenchItem(id=7, question="6 x 7?", answer=42, answer_type="number")
>>> item.id, item.answer
('7', '42')
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import DatasetError, UnknownNameError

__all__ = ["AnswerType", "BenchItem", "load_items", "load_jsonl", "select"]

AnswerType = Literal["number", "choice", "yesno", "text", "json", "code"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class BenchItem(BaseModel):
    """One question with its gold answer and how to score it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str | None = None
    messages: list[dict[str, Any]] | None = None
    answer: str = ""
    answer_type: AnswerType
    choices: list[str] | None = None
    tests: str | None = None
    entry_point: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "answer", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("messages")
    @classmethod
    def _messages(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None:
            if not value:
                raise ValueError("must hold at least one message")
            for message in value:
                if "role" not in message or "content" not in message:
                    raise ValueError('each message needs "role" and "content"')
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BenchItem:
        if (self.question is None) == (self.messages is None):
            raise ValueError("field 'question' or 'messages': give exactly one of them")
        if self.answer_type == "code":
            if not self.tests:
                raise ValueError("field 'tests': a code item needs Python tests that must run without error")
        elif not self.answer.strip():
            raise ValueError("field 'answer': required (the gold answer)")
        if self.answer_type == "choice":
            self.answer = self._choice_letter()
        return self

    def _choice_letter(self) -> str:
        gold = self.answer.strip()
        choices = self.choices or []
        if len(gold) == 1 and gold.upper() in LETTERS[: max(len(choices), 5)]:
            return gold.upper()
        for i, choice in enumerate(choices):
            if choice.strip() == gold:
                return LETTERS[i]
        raise ValueError(
            "field 'answer': a choice answer must be a letter (A, B, ...) or the text of a choice"
        )

    @property
    def n_choices(self) -> int:
        if self.choices:
            return len(self.choices)
        return int(self.meta.get("n_choices", 4))


def load_jsonl(path: str | Path) -> list[BenchItem]:
    """Items of a JSONL file; a bad line is a :class:`DatasetError` naming the file, line and field."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: file not found; pass an existing .jsonl file or a dataset name"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc})") from exc
    items: list[BenchItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse_line(path, number, line)
        if item.id in seen:
            raise DatasetError(
                f"{path}:{number}: field 'id': {item.id!r} already used on line {seen[item.id]}"
            )
        seen[item.id] = number
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: no items; write one JSON object per line (see `shoal bench --help`)")
    return items


def _parse_line(path: Path, number: int, line: str) -> BenchItem:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}:{number}: expected a JSON object, got {type(raw).__name__}")
    try:
        return BenchItem.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            known = ", ".join(f for f in BenchItem.model_fields)
            message = f"unknown field (known: {known})"
        elif first["type"] == "missing":
            message = "required field is missing"
        elif first["type"] == "literal_error" and field == "answer_type":
            message = (
                f"{first['input']!r} is not an answer type; use one of: {', '.join(get_args(AnswerType))}"
            )
        where = f"field {field!r}: " if field else ""  # item-level checks name their fields themselves
        raise DatasetError(f"{path}:{number}: {where}{message}") from None


def load_items(source: str) -> tuple[list[BenchItem], dict[str, Any]]:
    """Items of a built-in dataset (by name) or a JSONL file, with a description of where they came from."""
    from orchestrator.bench.sources import DATASETS

    spec = DATASETS.get(source)
    if spec is not None:
        return spec.load(), spec.describe()
    if source.endswith((".jsonl", ".json")) or Path(source).is_file():
        return load_jsonl(source), {"name": Path(source).name, "path": str(source), "licence": "user data"}
    known = [*DATASETS, "FILE.jsonl"]
    raise UnknownNameError("dataset", source, known) from None


def select(
    items: Iterable[BenchItem], *, limit: int | None = None, sample: int | None = None
) -> list[BenchItem]:
    """The first ``limit`` items, after a seeded shuffle when ``sample`` is given."""
    chosen = list(items)
    if sample is not None:
        random.Random(sample).shuffle(chosen)
    return chosen[:limit] if limit is not None else chosen
