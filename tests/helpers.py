"""Small builders shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from orchestrator.config import ShoalConfig, parse_config
from orchestrator.engine import Orchestrator
from orchestrator.registry import Registry
from orchestrator.types import Call, Completion
from providers.scripted import ScriptedProvider


def scripted_toml(members: dict[str, dict[str, Any]], extra: str = "") -> str:
    """A config of scripted members: ``{"a": {"answers": ["42"], "latency_s": 0.1}}``."""
    lines: list[str] = []
    for name, keys in members.items():
        lines.append(f"[members.{name}]")
        lines.append('provider = "scripted"')
        lines.append(f'model = "{keys.pop("model", "scripted-" + name)}"')
        for key, value in keys.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines) + "\n" + textwrap.dedent(extra)


def scripted_config(members: dict[str, dict[str, Any]], extra: str = "") -> ShoalConfig:
    return parse_config(scripted_toml(members, extra), source="test.toml")


def write_config(path: Path, members: dict[str, dict[str, Any]], extra: str = "") -> Path:
    path.write_text(scripted_toml(members, extra), encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


class Counted:
    """Scripted members that count, per member name, the calls that reached them (across aclose)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        counted = self

        class CountingScripted(ScriptedProvider):
            async def complete(self, call: Call) -> Completion:
                counted.calls[self.member.name] += 1
                return await super().complete(call)

        self.registry = Registry({"provider": {"scripted": CountingScripted}})

    def orchestrator(self, members: dict[str, dict[str, Any]], extra: str) -> Orchestrator:
        config = parse_config(scripted_toml(members, extra), source="test.toml", registry=self.registry)
        return Orchestrator(config, registry=self.registry)


SHOAL = [sys.executable, "-m", "orchestrator.cli"]


def shoal_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``shoal ARGS`` as a user runs it: a subprocess, its own stdin (empty unless given)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*SHOAL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full_env,
        input=stdin if stdin is not None else "",
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``shoal: error: ...`` line a mistake prints (asserts there is exactly one)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shoal: error: "), result.stderr
    return lines[0].removeprefix("shoal: error: ")
