"""Finds providers, strategies and classifiers through entry points.

The built-ins are registered in ``pyproject.toml`` under the same groups a
third-party plugin uses (``shoal.providers``, ``shoal.strategies``,
``shoal.classifiers``), so both load by one path.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from orchestrator.errors import UnknownNameError, UsageError

__all__ = ["GROUPS", "Registry"]

GROUPS = {"provider": "shoal.providers", "strategy": "shoal.strategies", "classifier": "shoal.classifiers"}


class Registry:
    """Entry points by kind; ``extra`` registers objects directly (tests, embedding apps)."""

    def __init__(self, extra: dict[str, dict[str, Any]] | None = None) -> None:
        self._points: dict[str, dict[str, EntryPoint]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._extra = {kind: dict(items) for kind, items in (extra or {}).items()}

    def names(self, kind: str) -> list[str]:
        return sorted({*self._entry_points(kind), *self._extra.get(kind, {})})

    def get(self, kind: str, name: str) -> Any:
        if name in self._extra.get(kind, {}):
            return self._extra[kind][name]
        key = (kind, name)
        if key not in self._loaded:
            point = self._entry_points(kind).get(name)
            if point is None:
                raise UnknownNameError(kind, name, self.names(kind))
            try:
                self._loaded[key] = point.load()
            except (ImportError, AttributeError) as exc:
                raise UsageError(
                    f"{kind} {name!r} ({point.value}) failed to load: {exc}; "
                    "reinstall shoal (pip install -e '.[local]') or the plugin that provides it"
                ) from exc
        return self._loaded[key]

    def register(self, kind: str, name: str, obj: Any) -> None:
        self._extra.setdefault(kind, {})[name] = obj

    def provider(self, name: str) -> Any:
        return self.get("provider", name)

    def strategy(self, name: str) -> Any:
        return self.get("strategy", name)

    def classifier(self, name: str) -> Any:
        return self.get("classifier", name)

    def _entry_points(self, kind: str) -> dict[str, EntryPoint]:
        if kind not in GROUPS:
            raise UnknownNameError("plugin kind", kind, list(GROUPS))
        if kind not in self._points:
            self._points[kind] = {ep.name: ep for ep in entry_points(group=GROUPS[kind])}
        return self._points[kind]
