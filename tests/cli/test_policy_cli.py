"""Through the ``shoal`` command: labels fail closed, and config mistakes are errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import shoal

QUESTION = "What is six times seven?"


@pytest.fixture
def sovereign(repo: Path) -> Path:
    return repo / "examples" / "sovereign.toml"


@pytest.mark.parametrize("told", ["confidental", "Top Secret"])
@pytest.mark.parametrize("command", ["ask", "route"])
def test_an_unknown_sensitivity_is_one_line_and_exit_2(sovereign: Path, command: str, told: str) -> None:
    result = shoal(command, QUESTION, "-c", str(sovereign), "--sensitivity", told)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("shoal: error: unknown sensitivity") and "known: confidential" in line
    if told == "confidental":
        assert "did you mean 'confidential'?" in line


def test_a_label_in_other_case_is_the_same_label(sovereign: Path) -> None:
    result = shoal("ask", QUESTION, "-c", str(sovereign), "--sensitivity", " CONFIDENTIAL ", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["sensitivity"] == ["confidential"]
    assert "cloud-us" not in {c["member"] for c in out["candidates"]}


def test_a_declared_label_is_accepted(tmp_path: Path, sovereign: Path) -> None:
    text = sovereign.read_text(encoding="utf-8").replace("[policy]\n", '[policy]\nlabels = ["public"]\n')
    path = tmp_path / "labelled.toml"
    path.write_text(text, encoding="utf-8")
    result = shoal("ask", QUESTION, "-c", str(path), "--sensitivity", "Public", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sensitivity"] == ["public"]


def test_config_check_reports_an_unknown_member_key_with_the_right_one(tmp_path: Path) -> None:
    path = tmp_path / "keyed.toml"
    path.write_text(
        '[members.relay]\nprovider = "openai_compat"\nmodel = "m"\napi_base = "http://127.0.0.1:9/v1"\n'
        'api_key = "sk-not-read"\n',
        encoding="utf-8",
    )
    result = shoal("config", "check", str(path))
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"{path}: members.relay.api_key: unknown key 'api_key'; did you mean 'api_key_env'?" in line
    assert "sk-not-read" not in line


@pytest.mark.parametrize(
    ("table", "key", "right"),
    [("[server]\nheartbeat = 5\n", "server.heartbeat", "heartbeat_s"), ("[polcy]\n", "polcy", "policy")],
)
def test_config_check_reports_unknown_keys_in_any_section(
    tmp_path: Path, sovereign: Path, table: str, key: str, right: str
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(sovereign.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    result = shoal("config", "check", str(path))
    assert result.returncode == 2
    assert f"{key}: unknown key" in result.stderr and f"did you mean {right!r}?" in result.stderr
