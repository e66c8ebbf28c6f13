"""Every strategy through ``shoal ask``, as a user runs it, on the example config and the issue's panels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import shoal
from tests.conftest import REPO
from tests.helpers import write_config

EXAMPLE = REPO / "examples" / "strategies.toml"
QUESTION = "What is six times seven?"


def ask_json(config: Path, *args: str) -> dict:
    result = shoal("ask", QUESTION, "--config", str(config), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# strategy -> (answer contains, confidence, calls, notes fragment)
EXPECTED = {
    "vote": ("42", 0.67, 3, None),
    "quick": ("42", 1.0, 3, "early exit: cancelled dave"),
    "frugal": ("42", 1.0, 2, "adaptive: decided after 2 answers; not asked: dave"),
    "judged": ("42", 0.75, 4, "judge referee picked '42'"),
    "fused": ("42", 1.0, 7, "aggregated by writer"),
    "argued": ("42", 1.0, 6, "changed their answer: carol"),
    "escalating": ("42", 0.75, 4, "escalated to judged (vote: confidence 0.67 < 0.70)"),
    "council": ("42", 0.67, 7, "synthesised by chair"),
    "cautious": ("The panel could not agree", 0.67, 3, None),
    "searched": ("42", 1.0, 2, "early exit: node 1 scored 1.00"),
}


@pytest.mark.parametrize("strategy", sorted(EXPECTED))
def test_example_config_runs_every_strategy(strategy: str) -> None:
    answer, confidence, calls, note = EXPECTED[strategy]
    out = ask_json(EXAMPLE, "--strategy", strategy)
    assert answer in out["answer"]
    assert round(out["confidence"], 2) == confidence
    assert out["calls"] == calls == len(out["candidates"])
    assert out["abstained"] is (strategy == "cautious")
    if note:
        assert any(note in n for n in out["notes"]), out["notes"]


def test_one_half_in_three_forms_wins_at_three_quarters(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "half.toml",
        {
            "a": {"answers": ["1/2"]},
            "b": {"answers": ["0.5"]},
            "c": {"answers": [r"\frac{1}{2}"]},
            "d": {"answers": ["0.75"]},
        },
        '[strategies.v]\nkind = "vote"\nanswer_type = "number"\n',
    )
    out = ask_json(config, "--strategy", "v")
    assert out["clusters"][0]["key"] == "1/2"
    assert out["answer"] in ("1/2", "0.5", r"\frac{1}{2}")
    assert out["confidence"] == 0.75


def test_early_exit_answers_well_under_a_hanging_member(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "hang.toml",
        {"a": {"answers": ["7"]}, "b": {"answers": ["7"]}, "c": {"fail": "hang"}},
        '[strategies.v]\nkind = "vote"\nearly_exit = true\n[defaults]\ntimeout_s = 30\n',
    )
    started = time.perf_counter()
    out = ask_json(config, "--strategy", "v")
    assert time.perf_counter() - started < 15  # the hang lasts until the 30 s timeout
    assert out["answer"] == "7"
    assert out["latency_s"] < 1.0
    assert [c["error"]["type"] for c in out["candidates"] if c["error"]] == ["cancelled"]


def test_an_all_disagreeing_panel_abstains(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "split.toml",
        {"a": {"answers": ["40"]}, "b": {"answers": ["41"]}, "c": {"answers": ["42"]}},
        '[strategies.v]\nkind = "vote"\nabstain_below = 0.5\n',
    )
    out = ask_json(config, "--strategy", "v")
    assert out["abstained"] is True
    assert out["answer"].startswith("The panel could not agree")


def test_the_table_shows_roles_and_notes() -> None:
    result = shoal("ask", QUESTION, "--config", str(EXAMPLE), "--strategy", "judged", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"
    assert "referee (judge)" in result.stdout
    assert "judge referee picked" in result.stdout
