"""Stored responses of the Responses API (``store: true``, ``previous_response_id``).

A stored response keeps the conversation that produced it (the engine messages
of its input and the assistant's output), so that a later request that names
it as ``previous_response_id`` continues from there. The store is an
interface, :class:`ResponseStore`; :class:`SqliteResponseStore` keeps them in
one sqlite file under the cache directory (shared by the workers of one
machine). A shared backend implements the same four methods.

Security: stored messages are replayed to members only through a new engine
request, whose messages the policy scans like any other (nothing stored is
sent around it).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ResponseStore", "SqliteResponseStore", "StoredResponse"]


class StoredResponse(dict[str, Any]):
    """``{"response": <the response object>, "messages": [<engine messages, input and output>]}``."""


class ResponseStore(Protocol):
    async def put(self, response_id: str, stored: dict[str, Any]) -> None: ...

    async def get(self, response_id: str) -> dict[str, Any] | None: ...

    async def delete(self, response_id: str) -> bool: ...

    async def aclose(self) -> None: ...


class SqliteResponseStore:
    """Responses in one sqlite file; opened on first use, calls run in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, created REAL, body TEXT NOT NULL)"
            )
            self._db = db
        return self._db

    def _put(self, response_id: str, stored: dict[str, Any]) -> None:
        with self._lock, self._conn() as db:
            db.execute(
                "INSERT OR REPLACE INTO responses (id, created, body) VALUES (?, ?, ?)",
                (response_id, time.time(), json.dumps(stored, ensure_ascii=False)),
            )

    def _get(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn().execute("SELECT body FROM responses WHERE id = ?", (response_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _delete(self, response_id: str) -> bool:
        with self._lock, self._conn() as db:
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    async def put(self, response_id: str, stored: dict[str, Any]) -> None:
        await asyncio.to_thread(self._put, response_id, stored)

    async def get(self, response_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, response_id)

    async def delete(self, response_id: str) -> bool:
        return await asyncio.to_thread(self._delete, response_id)

    async def aclose(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
