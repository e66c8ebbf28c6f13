"""``shoal serve`` from the command line: the banner, --help staying light, and the example client."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import openai

from tests.proxy.servers import SHOAL, serve_env, start_serve

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def test_example_client_against_shoal_serve_of_the_scripted_example(repo: Path, tmp_path: Path) -> None:
    server = start_serve(repo / "examples" / "scripted.toml", tmp_path)
    try:
        assert "models: shoal/auto, shoal/vote, alice, bob, carol" in server.banner
        assert "auth: OFF" in server.banner
        result = subprocess.run(
            [sys.executable, str(repo / "examples" / "proxy_client.py"), server.base_url],
            capture_output=True,
            text=True,
            env=serve_env(),
            timeout=60,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "models: shoal/auto, shoal/vote, alice, bob, carol" in out
    assert "answer: 42" in out and "streamed: 42" in out
    assert "x-shoal-confidence: 0.6667" in out
    assert out.count("confidence 0.67 · strategy vote") == 2
    assert "- carol (scripted-c): '41'" in out


def test_help_lists_serve_without_importing_the_server_stack() -> None:
    code = (
        "import sys, runpy; sys.argv = ['shoal', '--help']\n"
        "try:\n    runpy.run_module('orchestrator.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('starlette', 'uvicorn', 'fastapi', 'prometheus_client', 'orchestrator.proxy')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


def test_serve_help_names_its_options() -> None:
    result = subprocess.run([str(SHOAL), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--config", "--host", "--port", "--workers", "--insecure-no-auth"):
        assert option in result.stdout


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[members.a]\nprovider = "scripted"\nmodel = "m"\n[server]\nheartbeat_s = -1\n')
    result = subprocess.run(
        [str(SHOAL), "serve", "--config", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "server.heartbeat_s" in result.stderr and str(bad) in result.stderr


def test_workers_serve_the_same_api(repo: Path, tmp_path: Path) -> None:
    server = start_serve(repo / "examples" / "scripted.toml", tmp_path, "--workers", "2")
    try:
        assert "workers: 2" in server.banner
        with openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0) as client:
            answers = {
                client.chat.completions.create(model="alice", messages=QUESTION).choices[0].message.content
                for _ in range(4)
            }
        assert answers == {"42"}
    finally:
        assert server.stop() in (0, -signal.SIGTERM)


def test_a_port_in_use_is_one_clear_line(repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(SHOAL), "serve", "--config", str(repo / "examples" / "scripted.toml"), "--port", str(port)],
            capture_output=True,
            text=True,
            env=serve_env(),
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
