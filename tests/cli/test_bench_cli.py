"""``shoal bench`` as a user runs it: outputs, re-runs from the cache, replay, resume, compare, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import write_config

SHOAL = [sys.executable, "-m", "orchestrator.cli"]
SAMPLE = str(REPO / "examples" / "data" / "sample.jsonl")
SIM = "n=3,p=0.7,rho=0.2"


def shoal(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*SHOAL, *args], capture_output=True, text=True, timeout=timeout, env=env)


def stats_of(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    return {key: summary[key] for key in ("strategies", "members", "panel", "baseline", "dataset")}


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_bench_writes_results_summary_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = shoal("bench", "-d", SAMPLE, "-s", "single,vote", "--simulate", SIM, "-o", str(out))
    assert result.returncode == 0, result.stderr
    for name in (
        "results.jsonl",
        "summary.json",
        "report.md",
        "report.html",
        "accuracy_cost.png",
        "error_correlation.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "accuracy_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = rows_of(out)
    assert len(rows) == 15 * 5  # single, vote and each of the 3 members alone
    assert {r["strategy"] for r in rows} == {"single", "vote", "member:sim1", "member:sim2", "member:sim3"}
    summary = json.loads((out / "summary.json").read_text())
    vote = summary["strategies"]["vote"]
    assert vote["n"] == 15 and vote["calls_per_item"] == 3.0
    assert {"accuracy_ci95", "wrong_rate", "abstention_rate", "accuracy_answered", "cost_per_correct_usd",
            "latency_p95_s", "tokens_per_item"} <= vote.keys()  # fmt: skip
    assert vote["vs_baseline"]["p_value"] is not None
    assert summary["panel"]["oracle"]["accuracy"] >= vote["accuracy"]
    assert summary["run"]["new_calls"] == 15 * 3  # each member once per item; the rest came from the cache
    report = (out / "report.md").read_text()
    assert "| vote |" in report and "McNemar" in report and "![accuracy_cost.png]" in report
    assert "vote" in result.stdout and "member:sim1" in result.stdout


def test_rerun_makes_no_call_and_replay_reproduces_exactly(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    args = ["bench", "-d", SAMPLE, "-s", "single,vote", "--simulate", SIM, "--no-plots"]
    assert shoal(*args, "-o", str(first)).returncode == 0
    again = shoal(*args, "-o", str(first))
    assert again.returncode == 0, again.stderr
    assert json.loads((first / "summary.json").read_text())["run"]["new_calls"] == 0
    replay = shoal(*args, "-o", str(second), "--replay", "--cache", str(first / "calls.sqlite"))
    assert replay.returncode == 0, replay.stderr
    run = json.loads((second / "summary.json").read_text())["run"]
    assert run["new_calls"] == 0 and run["replay_misses"] == 0 and run["cached_calls"] > 0
    assert stats_of(first) == stats_of(second)
    compared = shoal("bench", "compare", str(first), str(second), "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["identical"] is True
    table = shoal("bench", "compare", str(first), str(second))
    assert "identical" in table.stdout


def test_replay_refuses_to_call(tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert (
        shoal(
            "bench", "-d", SAMPLE, "-n", "3", "-s", "vote", "--simulate", SIM, "--no-plots", "-o", str(first)
        ).returncode
        == 0
    )
    # items the recorded run never asked: their calls miss, and none is made
    more = shoal("bench", "-d", SAMPLE, "-n", "5", "-s", "vote", "--simulate", SIM, "--no-plots", "--replay",
                 "--cache", str(first / "calls.sqlite"), "-o", str(tmp_path / "more"))  # fmt: skip
    assert more.returncode == 0, more.stderr
    summary = json.loads((tmp_path / "more" / "summary.json").read_text())
    assert summary["run"]["new_calls"] == 0
    assert summary["run"]["replay_misses"] > 0
    assert summary["strategies"]["vote"]["error"] == 2  # items 4 and 5 were never recorded
    assert "not in the cache" in more.stderr
    empty = shoal(
        "bench", "-d", SAMPLE, "-s", "vote", "--simulate", SIM, "--replay", "-o", str(tmp_path / "x")
    )
    assert empty.returncode == 2
    assert "--replay needs recorded calls" in empty.stderr


def test_a_new_strategy_is_evaluated_on_cached_answers(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {f"m{i}": {"simulate": {"p": 0.6}} for i in range(3)},
        '[strategies.vote]\nkind = "vote"\n[strategies.quorum]\nkind = "vote"\nmin_answers = 3\n',
    )
    out = tmp_path / "run"
    assert (
        shoal("bench", "-d", SAMPLE, "-s", "vote", "-c", str(config), "--no-plots", "-o", str(out)).returncode
        == 0
    )
    result = shoal(
        "bench", "-d", SAMPLE, "-s", "vote,quorum", "-c", str(config), "--no-plots", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["new_calls"] == 0
    assert summary["strategies"]["quorum"]["n"] == 15


def test_interrupt_leaves_consistent_files_and_resumes(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "slow.toml",
        {f"m{i}": {"simulate": {"p": 0.7}, "latency_s": 0.15} for i in range(3)},
        '[strategies.vote]\nkind = "vote"\n',
    )
    out = tmp_path / "run"
    args = [
        *SHOAL,
        "bench",
        "-d",
        SAMPLE,
        "-s",
        "vote",
        "-c",
        str(config),
        "-k",
        "1",
        "--no-plots",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "resume" in stderr
    done = rows_of(out)  # every line is whole JSON
    assert 4 <= len(done) < 15 * 4
    assert json.loads((out / "summary.json").read_text())["run"]["complete"] is False
    resumed = shoal(*args[len(SHOAL) :])
    assert resumed.returncode == 0, resumed.stderr
    rows = rows_of(out)
    assert len(rows) == 15 * 4 and len({(r["item"], r["strategy"]) for r in rows}) == len(rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["complete"] is True
    assert (
        summary["run"]["new_calls"] <= 15 * 3 - len({r["item"] for r in done if r["strategy"] == "vote"}) * 3
    )


def test_a_torn_last_line_is_dropped_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["bench", "-d", SAMPLE, "-n", "4", "-s", "vote", "--simulate", SIM, "--no-plots", "-o", str(out)]
    assert shoal(*args).returncode == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    assert shoal(*args).returncode == 0
    assert len(rows_of(out)) == len(lines)


def test_bad_input_gets_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "question": "q", "answer": "1", "answer_type": "number"}\n{"id": "b", "question": "q"}\n'
    )
    result = shoal("bench", "-d", str(bad), "-s", "vote", "--simulate", SIM, "-o", str(tmp_path / "o"))
    assert result.returncode == 2
    assert f"{bad}:2: field 'answer_type'" in result.stderr
    assert "Traceback" not in result.stderr
    unknown = shoal("bench", "-d", "gsm9k", "-s", "vote", "-o", str(tmp_path / "o"))
    assert (
        unknown.returncode == 2 and "unknown dataset 'gsm9k'" in unknown.stderr and "gsm8k" in unknown.stderr
    )
    missing = shoal("bench", "-d", SAMPLE)
    assert missing.returncode == 2 and "missing --strategies, --out" in missing.stderr
    strategy = shoal("bench", "-d", SAMPLE, "-s", "vote,nope", "--simulate", SIM, "-o", str(tmp_path / "o"))
    assert strategy.returncode == 2 and "unknown strategy 'nope'" in strategy.stderr
    sim = shoal("bench", "-d", SAMPLE, "-s", "vote", "--simulate", "n=3", "-o", str(tmp_path / "o"))
    assert sim.returncode == 2 and "--simulate needs n and p" in sim.stderr
    other = shoal(
        "bench", "-d", SAMPLE, "-n", "2", "-s", "vote", "--simulate", SIM, "-o", str(tmp_path / "o")
    )
    assert other.returncode == 0
    clash = shoal(
        "bench", "-d", SAMPLE, "-n", "3", "-s", "vote", "--simulate", SIM, "-o", str(tmp_path / "o")
    )
    assert clash.returncode == 2 and "holds another benchmark" in clash.stderr and "--fresh" in clash.stderr


@pytest.mark.parametrize(
    "name", ["gsm8k", "mmlu", "arc-challenge", "truthfulqa-mc", "humaneval", "ja-medical"]
)
def test_datasets_lists_size_licence_and_install(name: str) -> None:
    result = shoal("bench", "datasets")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"{name} "))
    assert "pip install" in line and any(lic in line for lic in ("MIT", "Apache", "CC BY-SA"))


def test_help_does_not_import_plotting_or_numerics() -> None:
    for argv in (["shoal", "--help"], ["shoal", "bench", "--help"]):
        code = (
            f"import sys, runpy; sys.argv = {argv!r}\n"
            "try:\n    runpy.run_module('orchestrator.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('matplotlib', 'numpy', 'scipy', 'orchestrator.bench.plots')\n"
            "heavy = [m for m in heavy if m in sys.modules]\n"
            "assert not heavy, heavy\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
