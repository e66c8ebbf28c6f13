"""Every mistake is one line on stderr and the documented exit code; --help and --version read plainly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.helpers import one_error_line, shoal_cli, write_config

BOX = set("╭╮╰╯│─")


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return write_config(tmp_path / "three.toml", {"a": {"answers": ["42"]}, "b": {"answers": ["42"]}})


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ask", "q", "--config"], "Option '--config' requires an argument"),
        (["ask", "q", "--max-calls", "0"], "'--max-calls'"),
        (["ask", "q", "--no-such-flag"], "No such option: --no-such-flag"),
        (["nope"], "No such command 'nope'"),
        (["bench", "compare", "only-one"], "Missing argument"),
        (["serve", "--port", "99999"], "'--port'"),
        (["serve", "--port", "eighty"], "'--port'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], fragment: str) -> None:
    result = shoal_cli(*args)
    assert result.returncode == 2, result.stderr
    assert fragment in one_error_line(result)
    assert not BOX & set(result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_a_host_that_is_not_this_machine_names_host_not_port(three: Path) -> None:
    result = shoal_cli("serve", "-c", str(three), "--host", "192.0.2.1", "--port", "0", "--insecure-no-auth")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "--host 192.0.2.1 is not an address of this machine" in line and "pick another --port" not in line


def test_an_unresolvable_host_is_one_line(three: Path) -> None:
    result = shoal_cli("serve", "-c", str(three), "--host", "999.1.1.1", "--insecure-no-auth")
    assert result.returncode == 2
    assert "--host 999.1.1.1" in one_error_line(result)


def test_a_port_in_use_says_pick_another_port(three: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = shoal_cli("serve", "-c", str(three), "--port", str(port))
    assert result.returncode == 2
    assert "the port is in use; pick another --port" in one_error_line(result)


def test_offline_with_no_cached_model_exits_3_before_any_call(tmp_path: Path) -> None:
    env = {"SHOAL_OFFLINE": "1", "SHOAL_CACHE_DIR": str(tmp_path / "empty-cache")}
    result = shoal_cli("ask", "What is 2 + 2?", cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stderr
    line = one_error_line(result)
    assert "is offline" in line and "shoal models pull" in line


def test_shoal_strategy_errors_name_the_variable(three: Path) -> None:
    result = shoal_cli("ask", "q", "-c", str(three), env={"SHOAL_STRATEGY": "nope"})
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"SHOAL_STRATEGY=nope (over {three}): ")


def test_a_config_without_members_says_how_to_add_one(tmp_path: Path) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('[defaults]\nstrategy = "vote"\n', encoding="utf-8")
    result = shoal_cli("config", "check", str(bare))
    assert result.returncode == 2
    line = one_error_line(result)
    assert "[members.NAME]" in line and "valid dictionary" not in line


def test_version() -> None:
    result = shoal_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "shoal 0.1.0"


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["bench", "--help"], ["serve", "--help"]])
def test_help_has_plain_placeholders(args: list[str]) -> None:
    result = shoal_cli(*args, env={"COLUMNS": "80"})
    assert result.returncode == 0
    assert "<bool>" not in result.stdout and "<path>" not in result.stdout
    assert not BOX & set(result.stdout)
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_the_bench_plots_hint_names_the_bench_extra(tmp_path: Path, repo: Path) -> None:
    blocker = tmp_path / "no-matplotlib" / "matplotlib"  # an installation without matplotlib
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    sample = repo / "examples" / "data" / "sample.jsonl"
    result = shoal_cli(
        "bench", "-d", str(sample), "-s", "single,vote", "--simulate", "n=3,p=0.7", "-o", str(tmp_path / "o"),
        env={"PYTHONPATH": str(blocker.parent)},
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "pip install -e '.[bench]'" in result.stderr and "'shoal[bench]'" in result.stderr
