"""A persistent answer cache (SQLite, JSON values; no pickle).

Each answer is committed as soon as it arrives, so an interrupted run keeps everything it got and
a re-run with the same settings and seed sends only the requests that are still missing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["AnswerCache", "cache_key"]


def cache_key(payload: dict) -> str:
    """SHA-256 of the canonical JSON of ``payload`` (model, messages, parameters, seed)."""
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Key-value store of answers in one SQLite file, safe to share between threads.

    Args:
        path: The database file (created with its parent folders); ``":memory:"`` keeps it in
            memory for one process.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                "created REAL NOT NULL)"
            )
            self._conn.commit()

    def get(self, key: str) -> dict | None:
        """The stored answer for ``key``, or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        """Store (or replace) an answer and commit at once."""
        blob = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
