"""The app's lifespan: what start-up opened is closed, also when start-up fails halfway."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gemini_proxy.agents.registry import AgentsFileError
from gemini_proxy.app import create_app
from gemini_proxy.config import Settings


def open_files(under: Path) -> list[str]:
    """Paths under ``under`` that this process holds open (the SQLite file and its WAL)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(under)):
            found.append(target)
    return found


def settings(tmp_path: Path, **changes: object) -> Settings:
    keys = tmp_path / "keys.txt"
    keys.write_text("test-key-1-secretpart\ntest-key-2-secretpart\n")
    fields: dict[str, object] = {
        "db": str(tmp_path / "state.db"),
        "keys_file": keys,  # watched: the watcher is one more thing start-up opens
        "upstream_url": "http://127.0.0.1:9",
        "metrics_dir": tmp_path / "metrics",
    }
    return Settings(**{**fields, **changes})  # type: ignore[arg-type]


async def test_a_start_up_failing_halfway_closes_what_it_opened(tmp_path: Path) -> None:
    # The agents file is read after the store, the pool, the metrics sharing, the connections,
    # the media fetcher and the keys-file watcher have started: a broken one fails start-up there.
    agents = tmp_path / "agents.json"
    agents.write_text("{not json")
    app = create_app(settings(tmp_path, agents_file=agents))
    before = asyncio.all_tasks()
    with pytest.raises(AgentsFileError):
        async with app.router.lifespan_context(app):
            pass
    await asyncio.sleep(0)  # let cancelled tasks finish
    assert open_files(tmp_path) == []
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()


async def test_a_clean_start_and_stop_closes_everything(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    before = asyncio.all_tasks()
    async with app.router.lifespan_context(app):
        assert app.services is not None
        assert open_files(tmp_path)  # the store is open while the app runs
    await asyncio.sleep(0)
    assert open_files(tmp_path) == []
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()
