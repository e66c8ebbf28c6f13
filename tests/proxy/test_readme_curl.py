"""Every curl example in the README's proxy section runs, as written, against ``shoal serve
--config examples/scripted.toml`` (the server the section starts)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.proxy.servers import Served, start_serve

SECTION = re.compile(r"^## The proxy\n(.*?)^## ", re.S | re.M)
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def curl_examples() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = SECTION.search(readme)
    assert section is not None, "README has no '## The proxy' section"
    blocks = [b for b in BLOCK.findall(section.group(1)) if "curl " in b]
    return ["\n".join(line for line in b.splitlines() if not line.startswith("#")) for b in blocks]


def test_every_endpoint_has_an_example() -> None:
    text = "\n".join(curl_examples())
    for route in (
        "/v1/models",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/embeddings",
        "/v1/completions",
    ):
        assert route in text, route


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("readme")
    server = start_serve(REPO / "examples" / "scripted.toml", workdir)
    yield server
    server.stop()


@pytest.mark.parametrize("example", curl_examples(), ids=lambda e: re.findall(r"/v1/[a-z/_]+", e)[0])
def test_readme_curl_example_runs(scripted: Served, example: str, tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is needed (.ci/run installs it)"
    script = example.replace("http://127.0.0.1:8000", scripted.root)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip(), "the example printed nothing"
    assert not re.search(r'"error":\s*\{|event: error', done.stdout), done.stdout
