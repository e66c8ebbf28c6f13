"""``shoal ask --url`` / ``SHOAL_URL`` and ``shoal members status --url`` against a real ``shoal serve``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SHOAL, one_error_line, shoal_cli, write_config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``shoal serve --port 0`` on a scripted panel of its own (names the local CLI does not know)."""
    folder = tmp_path_factory.mktemp("served")
    config = write_config(
        folder / "served.toml",
        {"north": {"answers": ["42"]}, "south": {"answers": ["42"]}, "east": {"answers": ["41"]}},
        '[strategies.vote]\nkind = "vote"\n',
    )
    proc = subprocess.Popen(
        [*SHOAL, "serve", "-c", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=folder,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "shoal serve: http://127.0.0.1:PORT/v1"
    assert first.startswith("shoal serve: http://"), first
    try:
        yield first.split(": ", 1)[1].strip().removesuffix("/v1")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reads and closes both pipes


def test_ask_url_gets_the_servers_verdict(server: str, tmp_path: Path) -> None:
    result = shoal_cli("ask", "What is six times seven?", "--url", server, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answer"] == "42" and round(out["confidence"], 2) == 0.67
    assert sorted(c["member"] for c in out["candidates"]) == ["east", "north", "south"]


def test_shoal_url_in_the_environment_does_the_same(server: str, tmp_path: Path) -> None:
    env = {"SHOAL_URL": server}
    result = shoal_cli("ask", "What is six times seven?", "-s", "vote", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"
    assert "north" in result.stdout and f"answered by {server}" in result.stdout


def test_ask_url_with_an_unknown_strategy_is_one_line(server: str, tmp_path: Path) -> None:
    result = shoal_cli("ask", "q", "--url", server, "-s", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "/v1/models" in one_error_line(result)


def test_ask_url_nobody_listening_is_one_line(tmp_path: Path) -> None:
    result = shoal_cli("ask", "q", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 2
    assert "is `shoal serve` running there?" in one_error_line(result)


def test_members_status_url_reads_the_roster_from_the_server(server: str, tmp_path: Path) -> None:
    result = shoal_cli("members", "status", "--url", server, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["members"]
    assert sorted(r["member"] for r in rows) == ["east", "north", "south"]  # not the local default panel
    assert all(r["state"] == "closed" for r in rows)
    table = shoal_cli("members", "status", "--url", server, cwd=tmp_path, env={"COLUMNS": "80"})
    assert table.returncode == 0 and "north" in table.stdout and "smollm2" not in table.stdout
