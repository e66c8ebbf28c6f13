"""Every code block of README.md that a reader can paste runs here, as the reader would run it.

The blocks are read from README.md when the tests are collected, so a block added to the
README is tested without touching this file. How each kind runs (cwd: the repository):

- ``sh``: each command (``\\`` continues a line) runs in bash with the ``shoal`` of this
  environment on PATH and must exit 0; ``# ...`` lines after a command are its expected
  output, each of which must appear in what it printed. A command that starts ``shoal serve``
  is started, its banner checked against those lines, and stopped.
- ``python``: runs as a script and must exit 0.
- ``toml``: must parse; a whole config (every ``[members.NAME]`` with its ``provider``) must
  also pass ``shoal config check``.
- Any other block that mentions ``http://127.0.0.1:8000`` runs while a ``shoal serve`` of
  ``examples/scripted.toml`` listens on a free port, the address rewritten to it.
- Other languages (none yet) are not run.

Markers, an HTML comment on the line(s) just before the fence (invisible on the rendered page):

- ``<!-- not-run: REASON -->``: the block is skipped, the reason shown in the test report
  (a synopsis with placeholders, a set-up from the network, a run of minutes).
- ``<!-- needs-env: VAR1 VAR2 -->``: skipped unless those variables are set (vendor keys).
- ``<!-- server: CONFIG -->``: the server for ``127.0.0.1:8000`` uses CONFIG instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BIN = str(Path(sys.executable).parent)
DEFAULT_ADDRESS = "http://127.0.0.1:8000"


@dataclass
class Block:
    line: int  # of the opening fence
    language: str
    text: str
    markers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        markers: dict[str, str] = {}
        j = start - 1
        while j >= 0 and (marker := re.match(r"^<!--\s*([\w-]+):\s*(.*?)\s*-->$", lines[j].strip())):
            markers[marker[1]] = marker[2]
            j -= 1
        found.append(Block(start + 1, fence[1] or "text", "\n".join(body) + "\n", markers))
        i += 1
    return found


BLOCKS = blocks(README.read_text(encoding="utf-8"))


def uses_real_models(block: Block) -> bool:
    """Asks the built-in local panel (no config named): a ``slow`` test, as real-model tests are."""
    asks = [line for line in block.text.splitlines() if re.search(r"\bshoal ask\b", line)]
    no_config = any("--config" not in line and " -c " not in line and "--url" not in line for line in asks)
    return "from_config()" in block.text or (block.language == "sh" and no_config)


PARAMS = [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if uses_real_models(b) else []) for b in BLOCKS]


def commands(script: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of an sh block."""
    out: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in script.splitlines():
        if not raw.strip():
            continue
        if raw.lstrip().startswith("#") and not pending:
            if out:
                out[-1][1].append(raw.lstrip()[1:].strip())
            continue
        pending += raw.rstrip().removesuffix("\\") + (" " if raw.rstrip().endswith("\\") else "")
        if not raw.rstrip().endswith("\\"):
            out.append((pending.strip(), []))
            pending = ""
    return out


def environment(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "COLUMNS": "100",
        "TMPDIR": str(tmp),
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start ``shoal serve --port 0`` on demand; yields a starter returning (address, banner)."""
    procs: list[subprocess.Popen[str]] = []

    def start(args: str) -> tuple[str, list[str]]:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {args} --port 0"],
            cwd=REPO,
            env=environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(3)]
        assert banner[0].startswith("shoal serve: http://"), banner
        address = banner[0].split(": ", 1)[1].strip().removesuffix("/v1")
        _wait_until_up(address)  # the banner is printed before the socket accepts
        return address, [b.strip() for b in banner]

    yield start
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=30)


def _wait_until_up(address: str, within_s: float = 60.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def needs_skip(block: Block) -> str | None:
    if "not-run" in block.markers:
        return f"not run: {block.markers['not-run']}"
    missing = [v for v in block.markers.get("needs-env", "").split() if not os.environ.get(v)]
    return f"needs {', '.join(missing)}" if missing else None


@pytest.mark.parametrize("block", PARAMS)
def test_readme_block_runs(block: Block, tmp_path: Path, served: callable) -> None:  # type: ignore[valid-type]
    reason = needs_skip(block)
    if reason:
        pytest.skip(reason)
    if block.language == "sh" and "curl " in block.text and DEFAULT_ADDRESS in block.text:
        # the proxy's curl examples (their output lines are illustrative, with ellipses) are run,
        # and their answers checked field by field, by tests/proxy/test_readme_curl.py
        pytest.skip("run by tests/proxy/test_readme_curl.py")
    text = block.text
    starts_own = block.language == "sh" and any(c.startswith("shoal serve") for c, _ in commands(text))
    if DEFAULT_ADDRESS in text and not starts_own:
        config = block.markers.get("server", "examples/scripted.toml")
        address, _ = served(f"shoal serve --config {config}")
        text = text.replace(DEFAULT_ADDRESS, address)
    if block.language == "python":
        result = subprocess.run(
            [sys.executable, "-"], input=text, cwd=REPO, env=environment(tmp_path),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"{block.id}\n{result.stderr}"
    elif block.language == "toml":
        data = tomllib.loads(text)
        members = data.get("members", {})
        whole = bool(members) and all(isinstance(m, dict) and "provider" in m for m in members.values())
        if whole:  # a fragment (keys to add to members defined elsewhere) can only be parsed
            path = tmp_path / "block.toml"
            path.write_text(text, encoding="utf-8")
            result = subprocess.run(
                [f"{BIN}/shoal", "config", "check", str(path)], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, f"{block.id}\n{result.stderr}"
    elif block.language in ("sh", "bash", "console", "shell"):
        for command, expected in commands(text):
            if command.startswith("shoal serve"):
                port_free = re.sub(r"\s--port\s+\d+", "", command)
                address, banner = served(port_free)
                port = address.rsplit(":", 1)[1]
                for line in expected:
                    assert line.replace(":8000", f":{port}") in banner, (
                        f"{block.id}: {line!r} not in {banner}"
                    )
                continue
            result = subprocess.run(
                ["bash", "-c", command], cwd=REPO, env=environment(tmp_path),
                capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert result.returncode == 0, f"{block.id}: {command}\n{result.stderr}"
            for line in expected:
                assert line in result.stdout, f"{block.id}: {command}: {line!r} not printed"
    else:
        pytest.skip(f"{block.language} blocks are not run")


def test_the_blocks_are_found() -> None:
    languages = {b.language for b in BLOCKS}
    assert {"sh", "python", "toml"} <= languages
    assert any("not-run" in b.markers for b in BLOCKS)
