"""The agreement of answer equivalence with other projects' suites may not fall (benchmarks/equivalence.py).

The floors are the figures measured when the suites were carried over; the issue's targets are
97% for numbers, choices and GSM8K, 90% for yes/no and text, and no false merge at all. Free text
needs the embedding model, so its suites run in the slow test.
"""

from __future__ import annotations

import pytest

from benchmarks.equivalence import FOLDER, load, run

FLOORS = {
    "math-verify numbers": 1.0,
    "gsm8k": 1.0,
    "numbers (own)": 1.0,
    "multiple choice (simple-evals)": 1.0,
    "multiple choice (own)": 1.0,
    "yes/no (own)": 1.0,
    "yes/no pairs (own)": 1.0,
    "false merges": 1.0,
}
TARGET = {"number": 0.97, "choice": 0.97, "yesno": 0.90, "text": 0.90}


def test_every_data_file_is_named_in_the_readme() -> None:
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for path in FOLDER.glob("*.jsonl"):
        assert path.name in readme, f"{path.name}: name its source and licence in README.md"


def test_number_choice_and_yesno_figures_do_not_fall() -> None:
    report = run(types={"number", "choice", "yesno"})
    assert report.false_merges == 0, report.merged
    for name, suite in report.suites.items():
        floor = FLOORS.get(name, 0.97)
        assert suite.agreement >= floor, (name, suite.agreement, suite.wrong[:10])
    assert report.suites["math-verify numbers"].cases >= 140
    assert report.suites["gsm8k"].cases >= 300


@pytest.mark.slow
def test_text_figures_meet_the_target() -> None:
    report = run(types={"text"})
    assert report.false_merges == 0, report.merged
    for name, suite in report.suites.items():
        assert suite.agreement >= TARGET["text"], (name, suite.agreement, suite.wrong[:10])


def test_the_false_merge_set_is_large_enough() -> None:
    _, pairs = load(FOLDER)
    different = [p for name, p in pairs if name.startswith("false_merges") and not p["same"]]
    assert len(different) >= 150
