"""The response store of ``/v1/responses`` on every kind of state store: owner-scoped, bounded, expiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gemini_proxy.state import MemoryStore, StateStore
from gemini_proxy.state.responses import ResponseStore
from gemini_proxy.state.sqlite import SqliteStore


def record(response_id: str, text: str = "hi") -> Any:
    return {
        "response": {"id": response_id, "object": "response", "output": [{"type": "message", "text": text}]},
        "input_items": [{"type": "message", "id": "msg_1", "role": "user", "content": []}],
        "conversation": {"contents": [{"role": "user", "parts": [{"text": text}]}], "system": [], "calls": {}},
        "previous_response_id": None,
    }


async def test_put_get_delete(store: StateStore) -> None:
    responses = ResponseStore(store, retention=60, max_record_bytes=1 << 20)
    alice = "alice"
    assert await responses.put(alice, record("resp_1"))
    got = await responses.get(alice, "resp_1")
    assert got is not None and got["response"]["id"] == "resp_1"
    assert got["conversation"]["contents"][0]["parts"] == [{"text": "hi"}]
    assert "owner" not in got
    assert await responses.delete(alice, "resp_1")
    assert await responses.get(alice, "resp_1") is None
    assert not await responses.delete(alice, "resp_1")


async def test_one_client_never_reads_another(store: StateStore) -> None:
    responses = ResponseStore(store, retention=60, max_record_bytes=1 << 20)
    alice, bob = "alice", "bob"
    await responses.put(alice, record("resp_1"))
    assert await responses.get(bob, "resp_1") is None
    assert await responses.get("anon", "resp_1") is None
    assert not await responses.delete(bob, "resp_1")
    assert await responses.get(alice, "resp_1") is not None


async def test_a_record_over_the_cap_is_not_stored(store: StateStore) -> None:
    responses = ResponseStore(store, retention=60, max_record_bytes=2048)
    assert not await responses.put("anon", record("resp_big", "x" * 4096))
    assert await responses.get("anon", "resp_big") is None
    assert await responses.put("anon", record("resp_small"))


async def test_records_expire_after_the_retention(tmp_path: Path) -> None:
    now = [1000.0]
    for kv in (MemoryStore(clock=lambda: now[0]), SqliteStore(tmp_path / "s.db", clock=lambda: now[0])):
        await kv.open()
        responses = ResponseStore(kv, retention=30, max_record_bytes=1 << 20)
        now[0] = 1000.0
        await responses.put("anon", record("resp_1"))
        now[0] = 1029.0
        assert await responses.get("anon", "resp_1") is not None
        now[0] = 1031.0
        assert await responses.get("anon", "resp_1") is None
        await kv.close()


async def test_the_memory_store_holds_a_bounded_amount() -> None:
    # With GEMINI_PROXY_DB="" everything is in memory: past the bound the oldest records go first.
    kv = MemoryStore(max_kv_bytes=20_000)
    responses = ResponseStore(kv, retention=60, max_record_bytes=1 << 20)
    for i in range(10):
        assert await responses.put("anon", record(f"resp_{i}", "x" * 3000))
    kept = [i for i in range(10) if await responses.get("anon", f"resp_{i}") is not None]
    assert kept == list(range(10 - len(kept), 10)) and 2 <= len(kept) < 10  # the newest, in order
    assert sum(len(value) for value, _ in kv._kv.values()) == kv._kv_bytes <= 20_000
