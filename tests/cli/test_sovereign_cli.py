"""Sovereignty and continuity through the ``shoal`` command, on examples/sovereign.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import shoal

KEY_QUESTION = "My key sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZ stopped working. What is 6 x 7?"


@pytest.fixture
def sovereign(repo: Path) -> Path:
    return repo / "examples" / "sovereign.toml"


@pytest.fixture
def cloud_down(tmp_path: Path, sovereign: Path) -> Path:
    """The example with its cloud member failing every call."""
    text = sovereign.read_text(encoding="utf-8")
    marker = 'model = "scripted-cloud"\n'
    assert marker in text
    path = tmp_path / "down.toml"
    path.write_text(text.replace(marker, marker + 'fail = "server_error"\n'), encoding="utf-8")
    return path


def members_of(out: dict) -> list[str]:
    return sorted(c["member"] for c in out["candidates"])


def test_confidential_request_is_answered_by_allowed_members_only(sovereign: Path) -> None:
    result = shoal(
        "ask", "What is six times seven?", "-c", str(sovereign), "--sensitivity", "confidential", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answer"] == "42"
    assert out["sensitivity"] == ["confidential"]
    assert members_of(out) == ["local-a", "local-b", "local-spare"]  # the spare takes cloud-us's seat
    assert (
        json.loads(shoal("ask", "What is six times seven?", "-c", str(sovereign), "--json").stdout)[
            "sensitivity"
        ]
        == []
    )


def test_one_foreign_cloud_and_two_local_members(tmp_path: Path, sovereign: Path) -> None:
    """The issue's setting exactly: no fallback, so the two local members answer alone."""
    text = sovereign.read_text(encoding="utf-8").replace('fallbacks = ["local-spare"]\n', "")
    path = tmp_path / "three.toml"
    path.write_text(text, encoding="utf-8")
    out = json.loads(
        shoal(
            "ask", "What is six times seven?", "-c", str(path), "--sensitivity", "confidential", "--json"
        ).stdout
    )
    assert members_of(out) == ["local-a", "local-b"]
    assert out["answer"] == "42" and out["confidence"] == 1.0


def test_a_question_holding_an_api_key_is_confidential_unasked(sovereign: Path) -> None:
    result = shoal("ask", KEY_QUESTION, "-c", str(sovereign), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["sensitivity"] == ["confidential"]
    assert "cloud-us" not in members_of(out)


def test_with_the_cloud_member_failing_every_call_the_team_answers_through_its_fallback(
    cloud_down: Path,
) -> None:
    result = shoal("ask", "What is six times seven?", "-c", str(cloud_down), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answer"] == "42" and out["confidence"] == 1.0
    answered = {c["member"]: c["replaces"] for c in out["candidates"] if c["error"] is None}
    assert answered == {"local-a": None, "local-b": None, "local-spare": "cloud-us"}
    assert [c["error"]["type"] for c in out["candidates"] if c["error"]] == ["server_error"]


def test_a_strategy_naming_an_excluded_member_exits_5_and_sends_nothing(
    tmp_path: Path, sovereign: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    text = sovereign.read_text(encoding="utf-8").replace(
        '# audit_log = "shoal-audit.jsonl"', f'audit_log = "{audit}"'
    )
    path = tmp_path / "audited.toml"
    path.write_text(text, encoding="utf-8")
    result = shoal("ask", "q?", "-c", str(path), "-s", "cloud-only", "--sensitivity", "confidential")
    assert result.returncode == 5
    assert "strategies.cloud-only.member 'cloud-us'" in result.stderr and "nothing was sent" in result.stderr
    (line,) = audit.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["outcome"] == "PolicyError" and record["seen_by"] == []


def test_budgets_from_the_command_line_exit_6_naming_the_budget(sovereign: Path) -> None:
    result = shoal("ask", "What is six times seven?", "-c", str(sovereign), "--max-calls", "2")
    assert result.returncode == 6
    assert "max_calls=2 would be exceeded" in result.stderr


def test_route_shows_category_scores_route_and_who_may_see_it(sovereign: Path) -> None:
    result = shoal(
        "route", "Project Falcon: write a Python function that sorts a list", "-c", str(sovereign), "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["category"] == "code"
    assert set(out["scores"]) >= {"code", "math", "factual"} and abs(sum(out["scores"].values()) - 1) < 1e-3
    assert (out["strategy"], out["team"]) == ("vote", "main")
    assert out["sensitivity"] == ["confidential"] and out["sensitivity_reasons"] == {
        "confidential": ["rule:falcon"]
    }
    assert out["members"] == ["local-a", "local-b", "local-spare"] and "cloud-us" in out["excluded"]
    text = shoal("route", "日本の首都はどこですか？", "-c", str(sovereign))
    assert "category: factual" in text.stdout and "strategy: vote" in text.stdout


def test_detect_shows_kinds_and_spans_not_values() -> None:
    result = shoal("detect", "mail ken@example.jp or call 090-1234-5678", "--json")
    out = json.loads(result.stdout)
    assert out == {
        "confidential": True,
        "findings": [{"kind": "email", "start": 5, "end": 19}, {"kind": "phone", "start": 28, "end": 41}],
    }
    assert "ken@" not in result.stdout


def test_detect_eval_reports_precision_and_recall() -> None:
    result = shoal("detect", "--eval", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"detector_labelled", "detector_heldout"}
    for scores in out.values():
        assert scores["any"]["precision"] >= 0.95 and scores["any"]["recall"] >= 0.95


def test_members_status_shows_tags_clearance_and_health(cloud_down: Path) -> None:
    result = shoal("members", "status", "-c", str(cloud_down), "--probe", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["member"]: row for row in json.loads(result.stdout)["members"]}
    assert rows["cloud-us"]["jurisdiction"] == "US" and rows["cloud-us"]["may_see"] == []
    assert rows["cloud-us"]["probe"] == "server_error" and rows["cloud-us"]["failures"] == 1
    assert rows["local-a"]["may_see"] == ["confidential"] and rows["local-a"]["probe"].startswith("ok")
    table = shoal("members", "status", "-c", str(cloud_down))
    assert "cloud-us" in table.stdout and "closed" in table.stdout


def test_the_library_example_runs(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(repo / "examples" / "sovereign.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "confidential: 42 from ['local-a', 'local-b', 'local-spare']"
    assert lines[1].startswith("detected ['confidential']") and "cloud-us" not in lines[1]
    assert lines[2].startswith("budget max_calls:")
    assert lines[3].startswith("policy: strategies.cloud-only.member 'cloud-us'")
    assert "stand-ins {'local-spare': 'cloud-us'" in lines[4]
    assert lines[5] == "cloud breaker: open"
