"""Logging: structlog events on top of the standard ``logging`` tree.

Loggers are named ``shoal.*``; an application controls them like any other
(``logging.getLogger("shoal").setLevel(...)``), so a library user sees nothing
below WARNING unless they ask. The CLI and the server call
:func:`configure_logging`. Events are snake_case; :func:`bound` adds fields
such as ``request_id`` to every event inside it. Prompts and keys are never
logged at info level.

A disabled level costs one ``isEnabledFor`` check, and structlog itself is
imported only when the first event is actually emitted, so ``import
orchestrator`` stays light.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

__all__ = ["Logger", "bound", "configure_logging", "get_logger"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_fields: ContextVar[dict[str, Any]] = ContextVar("shoal_log_fields", default={})  # noqa: B039


def bound(**fields: Any) -> Bound:
    """Add ``fields`` to every event logged inside the ``with`` block (this task and its children)."""
    return Bound(fields)


class Bound:
    """The ``with`` block of :func:`bound`."""

    __slots__ = ("_fields", "_token")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields
        self._token: Token[dict[str, Any]] | None = None

    def __enter__(self) -> None:
        self._token = _fields.set({**_fields.get(), **self._fields})

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _fields.reset(self._token)
            self._token = None


def _merge_bound(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {**_fields.get(), **event}


class Logger:
    """``log.info("event_name", key=value)``; structlog renders it when the level is enabled."""

    __slots__ = ("_impl", "_std")

    def __init__(self, name: str) -> None:
        self._std = logging.getLogger(name)
        self._impl: Any = None

    def enabled(self, level: str = "info") -> bool:
        """Whether an event at ``level`` would be emitted (to skip building its fields when not)."""
        return self._std.isEnabledFor(_LEVELS[level])

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "exception", event, fields)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if not self._std.isEnabledFor(level):
            return
        if self._impl is None:
            self._impl = _structlog_logger(self._std)
        getattr(self._impl, method)(event, **fields)


def _structlog_logger(std: logging.Logger) -> Any:
    import structlog

    return structlog.wrap_logger(
        std,
        processors=[
            _merge_bound,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def get_logger(name: str) -> Logger:
    return Logger(name)


def configure_logging(level: str = "warning") -> None:
    """Send ``shoal.*`` events at ``level`` and above to stderr (for the CLI and the server)."""
    logger = logging.getLogger("shoal")
    logger.setLevel(_LEVELS.get(level, logging.WARNING))
    if not any(getattr(h, "_shoal", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._shoal = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
