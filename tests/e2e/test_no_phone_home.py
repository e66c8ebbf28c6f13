"""No phone-home: with the local panel, ``shoal ask`` opens no connection other than loopback.

Two witnesses, each recording every connection attempt of a real ``shoal ask`` in a
subprocess: a Python audit hook on ``socket.connect`` and ``socket.getaddrinfo`` (what any
Python code, litellm and httpx included, would do), and strace on the ``connect`` system
call of the whole process tree (what native code such as llama.cpp would do). Both runs
are normal runs, not ``SHOAL_OFFLINE``: the models are already in the cache.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.registry import Registry

pytestmark = pytest.mark.slow

HOOK = """
import json, sys
log_path = sys.argv[1]
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        target = args[1] if event == "socket.connect" else args[0]
        family = int(args[0].family) if event == "socket.connect" else None
        with open(log_path, "a") as out:
            out.write(json.dumps({"event": event, "family": family, "target": repr(target)}) + "\\n")
sys.addaudithook(hook)
sys.argv = ["shoal", *sys.argv[2:]]
from orchestrator.cli import main
main()
"""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def outside_loopback(records: list[dict[str, object]]) -> list[dict[str, object]]:
    bad = []
    for record in records:
        target = str(record["target"])
        match = re.match(r"^\('([^']*)',", target) or re.match(r"^'([^']*)'$", target)
        if record["event"] == "socket.connect" and record["family"] not in (2, 10):
            continue  # AF_UNIX and the like: not a network connection
        if match is None or not is_loopback(match.group(1)):
            bad.append(record)
    return bad


def test_the_check_itself_flags_a_remote_address() -> None:
    records = [
        {"event": "socket.connect", "family": 2, "target": "('127.0.0.1', 8080)"},
        {"event": "socket.connect", "family": 1, "target": "'/run/x.sock'"},
        {"event": "socket.connect", "family": 2, "target": "('151.101.0.223', 443)"},
        {"event": "socket.getaddrinfo", "family": None, "target": "'pypi.org'"},
    ]
    assert [r["target"] for r in outside_loopback(records)] == ["('151.101.0.223', 443)", "'pypi.org'"]


@pytest.fixture(scope="module")
def local_models() -> None:
    store = Registry().provider("local").model_store(load_config(None).cache_dir())
    missing = [s.name for s in store.list() if not s.present and not store.model(s.name).opt_in]  # as pulled
    if missing:
        pytest.fail(f"local models missing: {missing}; run `shoal models pull` first")


@pytest.fixture(params=["rules", "embeddings"])
def local_config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The built-in offline panel, routed by the rule classifier or by the embedding router."""
    text = resources.files("orchestrator").joinpath("default.toml").read_text(encoding="utf-8")
    path = tmp_path / "local.toml"
    path.write_text(text + f'\n[router]\nclassifier = "{request.param}"\n', encoding="utf-8")
    return path


def test_ask_with_the_local_panel_connects_only_to_loopback(
    local_models: None, local_config: Path, tmp_path: Path
) -> None:
    log = tmp_path / "connections.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "SHOAL_OFFLINE"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            HOOK,
            str(log),
            "ask",
            "What is the capital of France?",
            "-c",
            str(local_config),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "paris" in json.loads(result.stdout)["answer"].lower()
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert any(r["event"] == "socket.connect" for r in records), "the hook saw no connection at all"
    assert outside_loopback(records) == []


def test_no_native_code_connects_outside_loopback_either(local_models: None, tmp_path: Path) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    trace = tmp_path / "connect.trace"
    env = {k: v for k, v in os.environ.items() if k != "SHOAL_OFFLINE"}
    command = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), sys.executable, "-m"]
    result = subprocess.run(
        [*command, "orchestrator.cli", "ask", "What is the capital of Japan?", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in trace.read_text().splitlines() if "connect(" in line]
    inet = [line for line in lines if "AF_INET" in line]
    assert inet, "strace saw no network connection at all"
    hosts = {
        m.group(1)
        for line in inet
        for m in re.finditer(r'inet6?_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
    }
    assert hosts and all(is_loopback(h) for h in hosts), hosts
