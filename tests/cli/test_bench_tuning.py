"""``--emit-thresholds`` and ``--emit-weights``: files a config takes in, which change its verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from tests.cli.test_bench_cli import rows_of, shoal

PANEL = """
[members.good]
provider = "scripted"
model = "sim-good"
simulate = { p = 0.9, rho = 0.0, seed = 1, distractors = 3 }

[members.fair]
provider = "scripted"
model = "sim-fair"
simulate = { p = 0.55, rho = 0.0, seed = 2, distractors = 3 }

[members.poor]
provider = "scripted"
model = "sim-poor"
simulate = { p = 0.35, rho = 0.0, seed = 3, distractors = 3 }

[teams.sim]
members = ["good", "fair", "poor"]

[strategies.vote]
kind = "vote"
team = "sim"
answer_type = "number"
"""


def dataset(path: Path, n: int) -> Path:
    lines = [
        json.dumps(
            {"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i), "answer_type": "number"}
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tuned(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "panel.toml"
    config.write_text(PANEL, encoding="utf-8")
    data = dataset(tmp_path / "items.jsonl", 120)
    out = tmp_path / "run"
    done = shoal(
        "bench",
        "-d",
        str(data),
        "-c",
        str(config),
        "-s",
        "vote",
        "-o",
        str(out),
        "--no-plots",
        "--emit-thresholds",
        str(tmp_path / "thresholds.toml"),
        "--max-wrong",
        "0.1",
        "--emit-weights",
        str(tmp_path / "weights.toml"),
    )
    assert done.returncode == 0, done.stderr
    return {"config": config, "data": data, "out": out, "dir": tmp_path}


def test_the_emitted_files_load_as_config_and_change_the_verdicts(tuned: dict[str, Path]) -> None:
    tmp = tuned["dir"]
    thresholds = (tmp / "thresholds.toml").read_text()
    assert '[strategies."vote"]' in thresholds and "abstain_below = " in thresholds
    assert "rests on 120 items" in thresholds
    tuned_config = tmp / "tuned.toml"
    tuned_config.write_text(
        'include = ["thresholds.toml", "weights.toml"]\n'
        + PANEL
        + '\n[strategies.weighted]\nkind = "vote"\nteam = "sim"\nanswer_type = "number"\n'
        + 'weights = "learned"\n',
        encoding="utf-8",
    )
    config = load_config(tuned_config)
    weights = config.weights["default"]
    assert weights["good"] > weights["fair"] > weights["poor"]
    assert config.strategies["vote"].options()["abstain_below"] > 0
    assert config.strategies["weighted"].options()["weights"]["default"] == weights

    out = tmp / "tuned-run"
    done = shoal(
        "bench",
        "-d",
        str(tuned["data"]),
        "-c",
        str(tuned_config),
        "-s",
        "vote,weighted",
        "-o",
        str(out),
        "--no-plots",
        "--replay",
        "--cache",
        str(tuned["out"] / "calls.sqlite"),
    )
    assert done.returncode == 0, done.stderr
    before = {r["item"]: r for r in rows_of(tuned["out"]) if r["strategy"] == "vote"}
    after = {(r["item"], r["strategy"]): r for r in rows_of(out)}
    abstained_before = sum(r["status"] == "abstained" for r in before.values())
    abstained_after = sum(after[(i, "vote")]["status"] == "abstained" for i in before)
    assert abstained_after > abstained_before  # the threshold makes the vote abstain on doubtful items
    answered = [r for (i, s), r in after.items() if s == "vote" and r["status"] != "abstained"]
    wrong = sum(r["status"] == "wrong" for r in answered)
    assert wrong / len(answered) <= 0.1  # the target holds on the items it was chosen from
    right = {s: sum(r["status"] == "correct" for (i, t), r in after.items() if t == s) for s in ("weighted",)}
    plain = sum(r["status"] == "correct" for r in before.values())
    assert right["weighted"] >= plain  # one good member outweighs two poorer ones


def test_too_small_a_run_says_how_many_items_it_has_and_needs(tmp_path: Path) -> None:
    config = tmp_path / "panel.toml"
    config.write_text(PANEL, encoding="utf-8")
    data = dataset(tmp_path / "items.jsonl", 10)
    for flags, needs in (
        (["--emit-thresholds", str(tmp_path / "t.toml"), "--max-wrong", "0.05"], "needs at least 60 items"),
        (["--emit-weights", str(tmp_path / "w.toml")], "needs at least 20 items"),
    ):
        done = shoal(
            "bench", "-d", str(data), "-c", str(config), "-s", "vote", "-o", str(tmp_path / "o"), *flags
        )
        assert done.returncode == 2
        assert needs in done.stderr and "this run has 10" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "results.jsonl").exists()  # refused before any call


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("[weights.default]\nghost = 1.0\n", "weights.default.ghost"),
        ("[weights.astrology]\ngood = 1.0\n", "weights.astrology"),
        ("[weights.default]\ngood = -1\n", "weights.default.good"),
    ],
)
def test_a_weights_file_naming_unknown_members_or_categories_is_a_config_error(
    tmp_path: Path, table: str, key: str
) -> None:
    (tmp_path / "weights.toml").write_text(table, encoding="utf-8")
    config = tmp_path / "panel.toml"
    config.write_text('include = ["weights.toml"]\n' + PANEL, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(tmp_path / "weights.toml") in str(info.value) and key in str(info.value)
    done = shoal("config", "check", str(config))
    assert done.returncode == 2 and key in done.stderr
