"""Key state and small key-value records: memory, SQLite, Redis (``StateStore`` in ``base.py``).

``await open_store(db_path, redis_url)`` picks one: a Redis URL wins (state shared by replicas
on several machines), else a SQLite file path (state survives restarts, shared by workers on
one machine), else (``None`` / ``""``) memory only.
"""

from __future__ import annotations

from gemini_proxy.state.base import KeyRecord, StateStore
from gemini_proxy.state.memory import MemoryStore

__all__ = ["KeyRecord", "MemoryStore", "StateStore", "open_store"]


async def open_store(db_path: str | None, redis_url: str | None) -> StateStore:
    """Create and open the configured store. A Redis outage at startup is not fatal (degraded mode)."""
    store: StateStore
    if redis_url:
        from gemini_proxy.state.redis import RedisStore

        store = RedisStore(redis_url)
    elif db_path:
        from gemini_proxy.state.sqlite import SqliteStore

        store = SqliteStore(db_path)
    else:
        store = MemoryStore()
    await store.open()
    return store
