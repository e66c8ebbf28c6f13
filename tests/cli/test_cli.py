"""The ``shoal`` command, run as a user runs it: a subprocess of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_config

SHOAL = [sys.executable, "-m", "orchestrator.cli"]


def shoal(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*SHOAL, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=full_env)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "three.toml",
        {"a": {"answers": ["42"]}, "b": {"answers": ["42"]}, "c": {"answers": ["41"]}},
    )


def test_ask_json_with_three_scripted_members(three: Path) -> None:
    result = shoal("ask", "What is six times seven?", "--config", str(three), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answer"] == "42"
    assert round(out["confidence"], 2) == 0.67
    assert out["abstained"] is False
    assert out["strategy"] == "vote"
    assert out["route"]["category"]
    for key in ("usage", "cost_usd", "latency_s"):
        assert key in out
    assert [c["member"] for c in out["candidates"]] == ["a", "b", "c"]
    for c in out["candidates"]:
        assert {"member", "model", "text", "error", "latency_s", "usage"} <= c.keys()


def test_ask_prints_answer_confidence_and_member_table(three: Path) -> None:
    result = shoal("ask", "What is six times seven?", "--config", str(three))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"
    assert "confidence 0.67" in result.stdout
    for name in ("a", "b", "c", "scripted-c", "latency", "tokens", "cost"):
        assert name in result.stdout


def test_ask_single_strategy_and_member(tmp_path: Path, three: Path) -> None:
    result = shoal("ask", "q?", "--config", str(three), "--strategy", "single", "--json")
    assert json.loads(result.stdout)["candidates"][0]["member"] == "a"


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (["ask", "   "], "the question is empty", 2),
        (["ask", "q", "--strategy", "nope"], "unknown strategy 'nope'", 2),
        (["ask", "q", "--team", "nope"], "unknown team 'nope'", 2),
    ],
)
def test_bad_input_is_one_line_and_non_zero(three: Path, args: list[str], fragment: str, code: int) -> None:
    result = shoal(*args, "--config", str(three))
    assert result.returncode == code
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_broken_config_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[members.a]\nprovider = "scripted"\nmodel = "m"\nweight = -1\n')
    for args in (["config", "check", str(bad)], ["ask", "q", "--config", str(bad)]):
        result = shoal(*args)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"shoal: error: {bad}: members.a.weight: Input should be greater than 0"
        ]


def test_all_members_failing_is_a_quorum_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "down.toml", {"a": {"fail": "server_error", "max_retries": 0}})
    result = shoal("ask", "q", "--config", str(cfg))
    assert result.returncode == 4
    assert "0 of 1 members answered" in result.stderr
    assert "a: server_error" in result.stderr


def test_config_check_summarises(three: Path) -> None:
    result = shoal("config", "check", str(three))
    assert result.returncode == 0
    assert "ok · 3 members" in result.stdout


def test_help_does_not_import_litellm() -> None:
    code = (
        "import sys, runpy; sys.argv = ['shoal', '--help']\n"
        "try:\n    runpy.run_module('orchestrator.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
        "assert 'xllamacpp' not in sys.modules, 'xllamacpp imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ask" in result.stdout and "models" in result.stdout


def test_import_orchestrator_does_not_import_litellm() -> None:
    code = "import orchestrator, sys; assert 'litellm' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_installed_console_script_exists() -> None:
    exe = Path(sys.executable).parent / "shoal"
    assert exe.exists(), "pip install -e . should install the shoal console script"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
