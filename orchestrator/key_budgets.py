"""Daily budgets per API key, for ``shoal serve``: spend and calls per key per UTC day.

The key itself is never stored: a key is known by the first 16 hex digits of its
sha256. Usage lives in a small sqlite file (by default ``CACHE_DIR/key_budgets.sqlite``)
so the server's worker processes share it and a restart does not reset the day::

    [server]
    key_daily_max_cost_usd = 20.0
    key_daily_max_calls = 5000

:meth:`DailyBudgets.remaining` says what a key may still spend today (the request's
own budget is capped by it, so one request cannot overrun the day), and
:meth:`DailyBudgets.charge` adds what a request cost once it is done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import BudgetExceeded

__all__ = ["DailyBudgets", "Remaining", "key_id"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL,
    day TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
)
"""


def key_id(key: str | None) -> str:
    """How a key is known in logs and in the usage file: never the key itself."""
    if not key:
        return "anonymous"
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class Remaining:
    """What a key may still spend today (``None``: no such limit)."""

    cost_usd: float | None
    calls: int | None


class DailyBudgets:
    def __init__(
        self,
        path: Path,
        *,
        max_cost_usd: float | None = None,
        max_calls: int | None = None,
        today: Callable[[], str] = _today,
    ) -> None:
        self.max_cost_usd = max_cost_usd
        self.max_calls = max_calls
        self._today = today
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    @property
    def enabled(self) -> bool:
        return self.max_cost_usd is not None or self.max_calls is not None

    def used(self, key: str) -> tuple[float, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT cost_usd, calls FROM usage WHERE key_id = ? AND day = ?", (key, self._today())
            ).fetchone()
        return (float(row[0]), int(row[1])) if row else (0.0, 0)

    def remaining(self, key: str) -> Remaining:
        """What ``key`` may still spend today, or :class:`BudgetExceeded` if nothing is left."""
        cost, calls = self.used(key)
        if self.max_calls is not None and calls >= self.max_calls:
            raise BudgetExceeded(
                f"daily budget key_daily_max_calls={self.max_calls} of this API key is spent "
                f"({calls} calls today); it renews at 00:00 UTC",
                budget="key_daily_max_calls",
            )
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            raise BudgetExceeded(
                f"daily budget key_daily_max_cost_usd={self.max_cost_usd} of this API key is spent "
                f"({cost:.6f} USD today); it renews at 00:00 UTC",
                budget="key_daily_max_cost_usd",
            )
        return Remaining(
            cost_usd=None if self.max_cost_usd is None else self.max_cost_usd - cost,
            calls=None if self.max_calls is None else self.max_calls - calls,
        )

    def charge(self, key: str, cost_usd: float, calls: int) -> None:
        if not (cost_usd or calls):
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO usage (key_id, day, cost_usd, calls) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key_id, day) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd, "
                "calls = calls + excluded.calls",
                (key, self._today(), cost_usd, calls),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
