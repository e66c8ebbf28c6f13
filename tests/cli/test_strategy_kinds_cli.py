"""A strategy kind used as a strategy name (``shoal ask -s judge``) with no section of its own."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from orchestrator import ShoalError
from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from tests.helpers import one_error_line, scripted_toml, shoal_cli

# alice and bob answer; carol sits outside the team and can judge, aggregate and chair.


@pytest.fixture
def panel(tmp_path: Path) -> Path:
    members = {
        "alice": {"answers": ["42"]},
        "bob": {"answers": ["41"]},
        "carol": {"answers": ["42"], "weight": 2.0},
    }
    extra = '[teams.pair]\nmembers = ["alice", "bob"]\n\n[defaults]\nteam = "pair"\n'
    path = tmp_path / "panel.toml"
    path.write_text(scripted_toml(members, extra), encoding="utf-8")
    return path


def ask_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = shoal_cli("ask", "What is six times seven?", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["judge", "fusion", "council", "cascade"])
def test_every_kind_runs_by_name_on_the_built_in_scripted_example(repo: Path, kind: str) -> None:
    out = ask_json("-c", str(repo / "examples" / "scripted.toml"), "-s", kind)
    assert out["strategy"] == kind
    assert out["answer"]


def test_a_judge_by_name_comes_from_outside_the_answering_team(panel: Path) -> None:
    out = ask_json("-c", str(panel), "-s", "judge")
    roles = {(c["member"], c["role"]) for c in out["candidates"]}
    assert ("alice", "answer") in roles and ("bob", "answer") in roles
    assert ("carol", "answer") not in roles  # outside the team: it judges, it does not answer
    assert ("carol", "judge") in roles


@pytest.mark.parametrize(("kind", "role"), [("fusion", "aggregate"), ("council", "chairman")])
def test_the_writer_by_name_is_the_strongest_member_by_weight(panel: Path, kind: str, role: str) -> None:
    out = ask_json("-c", str(panel), "-s", kind)
    writers = [c["member"] for c in out["candidates"] if c["role"] == role]
    assert writers[:1] == ["carol"]  # weight 2 against 1


def test_a_cascade_by_name_is_a_vote_then_a_judge_on_the_chosen_team(panel: Path) -> None:
    out = ask_json("-c", str(panel), "-s", "cascade")
    assert any("escalated to judge" in note for note in out["notes"]), out["notes"]
    assert {c["member"] for c in out["candidates"] if c["role"] == "answer"} == {"alice", "bob"}


def test_the_library_gets_the_same_defaults(panel: Path) -> None:
    config = parse_config(panel.read_text(encoding="utf-8"), source=str(panel))
    verdict = Orchestrator(config).run_sync("What is six times seven?", strategy="judge")
    assert "carol" in [c.member for c in verdict.candidates if c.role == "judge"]


PLUGIN = """
from pydantic import Field
from strategies.base import StrategyOptions
from strategies.vote import Vote


class PickyOptions(StrategyOptions):
    threshold: float = Field(ge=0, le=1)


class Picky(Vote):
    Options = PickyOptions  # type: ignore[assignment]
    kind = "picky"
"""


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """A third-party strategy kind with a required option and no defaults, installed as an entry point."""
    site = tmp_path / "site"
    (site / "picky_plugin.py").parent.mkdir(parents=True)
    (site / "picky_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "picky_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: picky-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[shoal.strategies]\npicky = picky_plugin:Picky\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_a_kind_without_defaults_is_one_line_naming_the_option(panel: Path, plugin: dict[str, str]) -> None:
    result = shoal_cli("ask", "q?", "-c", str(panel), "-s", "picky", env=plugin)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "'threshold' is required" in line and "[strategies.picky]" in line
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr


def test_in_the_library_it_is_a_shoal_error(panel: Path) -> None:
    from orchestrator.registry import Registry
    from strategies.base import StrategyOptions
    from strategies.vote import Vote

    class NeedsOptions(StrategyOptions):
        threshold: float

    class Picky(Vote):
        Options = NeedsOptions  # type: ignore[assignment]

    registry = Registry({"strategy": {"picky": Picky}})
    config = parse_config(panel.read_text(encoding="utf-8"), source=str(panel), registry=registry)
    with pytest.raises(ShoalError, match="'threshold' is required"):
        Orchestrator(config, registry=registry).run_sync("q?", strategy="picky")


def test_unknown_strategy_lists_each_known_name_once(panel: Path, tmp_path: Path) -> None:
    config = tmp_path / "vote.toml"
    config.write_text(panel.read_text() + '\n[strategies.vote]\nkind = "vote"\n', encoding="utf-8")
    line = one_error_line(shoal_cli("ask", "q", "-c", str(config), "-s", "nope"))
    known = line.split("known: ")[1].split(", ")
    assert len(known) == len(set(known)) and "vote" in known
