"""The agreement of answer equivalence with other projects' suites may not fall (benchmarks/equivalence.py).

The floors are the figures measured when the suites were carried over; the issue's targets are
97% for numbers, choices and GSM8K, 90% for yes/no and text, and no false merge at all. The held-out
suites (``heldout_*`` files, written after the matchers from material they were not built against)
measured 73.6% (178 of 242, 5 false merges in 15 pairs of different answers) before the fixes they
led to, and 100% after: their floors hold that. Free text needs the embedding model, so its suites
run in the slow test.
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
    "bbh cot (lm-evaluation-harness)": 1.0,
    "minerva math (lm-evaluation-harness)": 1.0,
    "hendrycks math strip_string (lm-evaluation-harness)": 1.0,
    "math-verify other tests (held out)": 1.0,
    "multiple choice (lm-eval mmlu-pro, gpqa)": 1.0,
    "multilingual answers (simple-evals)": 1.0,
    "mgsm answers (simple-evals)": 1.0,
    "hand-found (own, held out)": 1.0,
}
HELDOUT = {
    "bbh cot (lm-evaluation-harness)",
    "minerva math (lm-evaluation-harness)",
    "hendrycks math strip_string (lm-evaluation-harness)",
    "math-verify other tests (held out)",
    "multiple choice (lm-eval mmlu-pro, gpqa)",
    "multilingual answers (simple-evals)",
    "mgsm answers (simple-evals)",
    "hand-found (own, held out)",
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


def test_heldout_figures_do_not_fall() -> None:
    report = run(types={"number", "choice", "yesno"})
    assert report.heldout >= HELDOUT, sorted(HELDOUT - report.heldout)
    cases, agreed = report.heldout_cases
    assert cases >= 242
    assert agreed / cases >= 1.0, [w for name in report.heldout for w in report.suites[name].wrong][:10]
    assert report.heldout_different_pairs >= 15
    assert report.heldout_false_merges == 0, report.merged


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
