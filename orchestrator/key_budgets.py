"""Daily budgets in a sqlite file: the memory backend's store for API keys' and teams' days.

The key itself is never stored: a key is known by the first 16 hex digits of its
sha256. Usage lives in a small sqlite file (by default ``CACHE_DIR/key_budgets.sqlite``)
so the server's worker processes on one machine share it and a restart does not reset
the day (the ``redis`` state backend keeps the same numbers in Redis, for many machines)::

    [server]
    key_daily_max_cost_usd = 20.0
    key_daily_max_calls = 5000

A call first *reserves* one call and its estimated cost against every account it
counts against (:meth:`DailyBudgets.reserve`, one ``BEGIN IMMEDIATE`` transaction, so
concurrent workers cannot both take the last call), then :meth:`DailyBudgets.settle`
charges what it really cost, or releases the reservation when it failed or was
cancelled. A reservation a crashed process left behind expires after its TTL.
:meth:`DailyBudgets.remaining` says what a key may still spend today.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.state.base import Account

__all__ = ["DailyBudgets", "Remaining", "key_id"]

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL,
    day TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
)
""",
    """
CREATE TABLE IF NOT EXISTS reserved (
    id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    day TEXT NOT NULL,
    calls INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (id, key_id)
)
""",
)


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
        reservation_ttl_s: float = 900.0,
    ) -> None:
        self.max_cost_usd = max_cost_usd
        self.max_calls = max_calls
        self.reservation_ttl_s = reservation_ttl_s
        self._today = today
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        import sqlite3  # when the first daily budget is kept, not at import

        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Commits are not flushed to disk one by one (the WAL is, at checkpoints): a reserve and
        # a settle per call cost microseconds instead of two fsyncs on the event loop. The file
        # stays consistent; a power cut (not a crash) may forget the last moments' counts.
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    @property
    def enabled(self) -> bool:
        return self.max_cost_usd is not None or self.max_calls is not None

    def account(self, key: str) -> Account:
        return Account(key, "key_daily", "this API key", self.max_calls, self.max_cost_usd)

    def used(self, key: str, day: str | None = None) -> tuple[float, int]:
        cost, calls, _ = self.usage(key, day or self._today())
        return cost, calls

    def usage(self, key: str, day: str) -> tuple[float, int, int]:
        """Spent cost, spent calls and calls reserved in flight, for ``key`` on ``day``."""
        with self._lock:
            return self._usage(key, day, time.time())

    def _usage(self, key: str, day: str, now: float) -> tuple[float, int, int]:
        row = self._db.execute(
            "SELECT cost_usd, calls FROM usage WHERE key_id = ? AND day = ?", (key, day)
        ).fetchone()
        held = self._db.execute(
            "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(cost_usd), 0) FROM reserved "
            "WHERE key_id = ? AND day = ? AND expires > ?",
            (key, day, now),
        ).fetchone()
        cost, calls = (float(row[0]), int(row[1])) if row else (0.0, 0)
        return cost + float(held[1]), calls, int(held[0])

    def remaining(self, key: str) -> Remaining:
        """What ``key`` may still spend today, or :class:`BudgetExceeded` if nothing is left."""
        account = self.account(key)
        cost, calls, reserved = self.usage(key, self._today())
        if self.max_calls is not None and calls + reserved >= self.max_calls:
            raise account.refusal(calls, cost, reserved)
        if self.max_cost_usd is not None and cost >= self.max_cost_usd:
            raise account.refusal(calls, cost, reserved)
        return Remaining(
            cost_usd=None if self.max_cost_usd is None else self.max_cost_usd - cost,
            calls=None if self.max_calls is None else self.max_calls - calls - reserved,
        )

    def reserve(self, accounts: Sequence[Account], calls: int, cost_usd: float, day: str) -> str:
        """Hold ``calls`` and ``cost_usd`` against every account at once, or raise for the first
        account they do not fit (nothing is held then)."""
        rid = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM reserved WHERE expires <= ?", (now,))
                for account in accounts:
                    cost, spent, held = self._usage(account.id, day, now)
                    over_calls = account.max_calls is not None and spent + held + calls > account.max_calls
                    over_cost = account.max_cost_usd is not None and (
                        cost >= account.max_cost_usd or cost + cost_usd > account.max_cost_usd
                    )
                    if over_calls or over_cost:
                        raise account.refusal(spent, cost, held, asked=calls)
                for account in accounts:
                    self._db.execute(
                        "INSERT INTO reserved (id, key_id, day, calls, cost_usd, expires) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (rid, account.id, day, calls, cost_usd, now + self.reservation_ttl_s),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return rid

    def settle(self, rid: str, accounts: Sequence[Account], day: str, cost_usd: float | None) -> None:
        """Drop the reservation; ``cost_usd`` not None: the call was made and cost that much."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM reserved WHERE id = ?", (rid,))
                if cost_usd is not None:
                    for account in accounts:
                        self._add(account.id, day, cost_usd, 1)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def charge(self, key: str, cost_usd: float, calls: int) -> None:
        if not (cost_usd or calls):
            return
        with self._lock:
            self._add(key, self._today(), cost_usd, calls)

    def _add(self, key: str, day: str, cost_usd: float, calls: int) -> None:
        self._db.execute(
            "INSERT INTO usage (key_id, day, cost_usd, calls) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_id, day) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd, "
            "calls = calls + excluded.calls",
            (key, day, cost_usd, calls),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
