"""Tuning files a benchmark writes and a config takes in: ``include`` and learned ``weights``.

``include = ["thresholds.toml", "weights.toml"]`` at the top of a config merges
those files' tables into it, in order (paths relative to the including file);
an included value replaces the config's own at the same key, so a thresholds
file's ``[strategies.vote] abstain_below = 0.67`` tightens that vote.

A weights file (``shoal bench --emit-weights``) holds ``[weights.CATEGORY]``
tables of member weights, ``default`` for every category without its own; a
strategy uses them with ``weights = "learned"`` (or an inline table of the same
shape). A weights table naming a member or category the config does not know is
a config error naming the file and key.

>>> merge({"strategies": {"v": {"kind": "vote"}}}, {"strategies": {"v": {"abstain_below": 0.5}}})
{'strategies': {'v': {'kind': 'vote', 'abstain_below': 0.5}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

__all__ = ["LEARNED", "check_weights", "merge", "resolve_includes"]

LEARNED = "learned"
_MAX_DEPTH = 4


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: tables recursively, any other value replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_includes(
    raw: dict[str, Any], source: str, depth: int = 0
) -> tuple[dict[str, Any], dict[str, str]]:
    """``raw`` with its ``include`` files merged in; and which file each ``weights`` category came from."""
    includes = raw.pop("include", [])
    origins = {category: source for category in raw.get("weights") or {}}
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError("include must be a list of file paths", source=source, key="include")
    if includes and depth >= _MAX_DEPTH:
        raise ConfigError(f"includes nest deeper than {_MAX_DEPTH} files", source=source, key="include")
    here = Path(source).parent if not source.startswith("<") else Path.cwd()
    import tomllib  # an included file is read like the config

    for entry in includes:
        path = (here / entry).expanduser()
        try:
            included = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"included file {path} does not exist", source=source, key="include") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read included file {path}: {exc}", source=source, key="include"
            ) from None
        included, inner = resolve_includes(included, str(path), depth + 1)
        origins |= {category: str(path) for category in included.get("weights") or {}} | inner
        raw = merge(raw, included)
    return raw, origins


def check_weights(
    weights: Mapping[str, Any],
    members: set[str],
    categories: set[str],
    origins: Mapping[str, str],
    source: str,
) -> None:
    """Every category and member a weights table names must exist; every weight must be positive."""
    for category, table in weights.items():
        where = origins.get(category, source)
        if category != "default" and category not in categories:
            known = ", ".join(sorted({"default", *categories}))
            raise ConfigError(
                f"unknown category {category!r} (known: {known})", source=where, key=f"weights.{category}"
            )
        if not isinstance(table, Mapping):
            raise ConfigError("must be a table of member = weight", source=where, key=f"weights.{category}")
        for member, weight in table.items():
            key = f"weights.{category}.{member}"
            if member not in members:
                known = ", ".join(sorted(members))
                raise ConfigError(
                    f"unknown member {member!r} (defined members: {known})", source=where, key=key
                )
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
                raise ConfigError(f"weight must be a number above 0, not {weight!r}", source=where, key=key)
