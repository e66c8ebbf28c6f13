"""Record/replay of model calls at the provider call layer.

Keyed by member identity (name, provider, model), messages, merged params and
sample index, so re-running a benchmark or replaying a new strategy over
recorded answers makes no model call and gives the same numbers.

Modes: ``record`` answers from the cache when it can and stores every new
success; ``replay`` answers only from the cache and turns a miss into a
``cache_miss`` failure (nothing is sent); ``off`` is no cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

from orchestrator.errors import ProviderError
from orchestrator.types import Call, Completion, Member

__all__ = ["CacheMiss", "CacheMode", "CallCache"]

CacheMode = Literal["off", "record", "replay"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    completion TEXT NOT NULL,
    latency_s REAL NOT NULL,
    created REAL NOT NULL
)
"""


class CacheMiss(ProviderError):
    """Replay mode found no recorded answer for a call; nothing was sent."""

    kind = "cache_miss"


class CallCache:
    """A sqlite file of completed calls; safe to share between the requests of one process."""

    def __init__(self, path: str | Path, mode: CacheMode = "record") -> None:
        self.path = Path(path)
        self.mode = mode
        self.hits = 0
        self.misses = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @staticmethod
    def key(member: Member, call: Call) -> str:
        identity: dict[str, Any] = {
            "member": member.name,
            "provider": member.provider,
            "model": member.model,
            "options": {k: v for k, v in member.options.items() if k != "api_key"},
            "messages": call.messages,
            "params": call.params,
            "sample": call.sample_index,
        }
        blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, member: Member, call: Call) -> tuple[Completion, float] | None:
        key = self.key(member, call)
        with self._lock:
            row = self._db.execute("SELECT completion, latency_s FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            if self.mode == "replay":
                raise CacheMiss(
                    f"{member.name}: no recorded answer for this call and replay mode makes no calls",
                    provider=member.provider,
                    model=member.model,
                )
            return None
        self.hits += 1
        return Completion.model_validate_json(row[0]), float(row[1])

    def put(self, member: Member, call: Call, completion: Completion, latency_s: float) -> None:
        if self.mode != "record":
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, member, completion, latency_s, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.key(member, call), member.name, completion.model_dump_json(), latency_s, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
