"""Logging: structlog events on top of the standard ``logging`` tree.

Loggers are named ``shoal.*``; an application controls them like any other
(``logging.getLogger("shoal").setLevel(...)``), so a library user sees nothing
below WARNING unless they ask. The CLI calls :func:`configure_logging`.
Events are snake_case with bound ``request_id`` and ``member``; prompts and keys
are never logged at info level.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_logging", "get_logger"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def get_logger(name: str) -> Any:
    """A structlog logger bound to the stdlib logger ``name``; disabled levels cost one check."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


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
