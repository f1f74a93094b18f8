"""The key pool's background sync with its ``StateStore``.

``PoolSync`` talks to the pool only through its ``Journal`` (``pool_journal.py``). It runs
every ``interval`` seconds (default 0.25 s):

1. write-behind: each dirty key's view + counter deltas -> ``store.save_records``;
2. roll the daily counters at Pacific midnight;
3. pull: ``store.changes_since(version)`` -> merge into the local view (other workers/replicas);
4. with an RPM limit: report this process's acquisitions per key for the current minute and
   learn everyone's (``store.add_usage``), so replicas share the per-key budget.

Store failures never reach ``acquire``/``release``: the first one logs a warning ("degraded
mode": the pool keeps serving from its local view, counter deltas are kept to be written
later), the recovery logs an info line, marks every key dirty (the store may have been
emptied, e.g. a Redis restart without persistence) and reloads everything. A store version
that goes backwards (store reset) triggers the same resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gemini_proxy.state.base import StateStore
from gemini_proxy.upstream.pool_journal import Journal

__all__ = ["PoolSync"]

log = logging.getLogger("gemini_proxy.pool")

CLOSE_TIMEOUT = 3.0


class PoolSync:
    def __init__(self, journal: Journal, store: StateStore, interval: float) -> None:
        self.journal = journal
        self.store = store
        self.interval = interval
        self.version = 0
        self.degraded = False
        self.full_reload = True
        self.window = -1
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        try:
            await self.store.open()
        except Exception as exc:  # an unreachable store must not stop the proxy
            self._fail("open", exc)
        else:
            try:  # load before the first write, so saved fingerprints can be compared with the keys file
                records, version = await self.store.load_records()
                self.journal.apply_records(records, initial=True)
                self.version, self.full_reload = version, False
            except Exception as exc:
                self._fail("load", exc)
        await self.sync_once()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="key-pool-sync")

    async def close(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # A cancellation can be lost inside a store client (a cancel racing a socket timeout
            # turns into TimeoutError), so the loop also checks ``_stopping``.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task}, timeout=CLOSE_TIMEOUT + self.interval)
        if self._writing is not None and not self._writing.done():  # a write the cancel left running
            await asyncio.wait({self._writing}, timeout=CLOSE_TIMEOUT)
        try:
            await asyncio.wait_for(self._flush(), CLOSE_TIMEOUT)
        except Exception as exc:
            log.warning("key pool: final state flush failed (%s: %s)", type(exc).__name__, exc)

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.interval)
            if self._stopping:
                break
            try:
                await self.sync_once()
            except Exception:  # a bug here must not kill the task: keep syncing
                log.exception("key pool sync failed")

    def _fail(self, what: str, exc: BaseException) -> None:
        if not self.degraded:
            log.warning(
                "state store unreachable during %s (%s: %s); the key pool keeps working on its local view "
                "(degraded mode: no sharing with other workers/replicas) and resyncs when the store is back",
                what,
                type(exc).__name__,
                exc,
            )
        self.degraded = True

    async def _flush(self) -> None:
        journal = self.journal
        updates = journal.take_updates()
        if not updates:
            return
        write = asyncio.ensure_future(self.store.save_records(updates))
        self._writing = write

        def settle(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:  # not written: the next flush carries them
                journal.restore_updates(updates)

        write.add_done_callback(settle)
        # Shielded: a write that has begun runs to its end even if this task is cancelled (at
        # shutdown). SQLite's thread would commit it anyway; re-queueing its deltas on the
        # cancellation would have the final flush write them a second time.
        await asyncio.shield(write)

    async def sync_once(self) -> None:
        journal = self.journal
        now = journal.now()
        window = int(now // 60)
        if journal.rpm_limited and window != self.window:
            # A new minute: other replicas' usage of the last one no longer counts, store or no store
            # (a store that is down must not leave a key "busy" for good).
            self.window = window
            journal.new_usage_window()
        try:
            if self.degraded:  # the store may have lost everything: push our whole view first
                journal.mark_all_changed()
            await self._flush()  # counted before the day rolls: written under the old day
        except Exception as exc:
            self._fail("write", exc)
            self.full_reload = True
            journal.roll_day(now)
            return
        journal.roll_day(now)
        try:
            if self.full_reload:
                records, version = await self.store.load_records()
            else:
                records, version = await self.store.changes_since(self.version)
                if version < self.version:
                    log.warning("state store was reset (version went backwards); resyncing the key pool")
                    journal.mark_all_changed()
                    records, version = await self.store.load_records()
            journal.apply_records(records)
            self.version, self.full_reload = version, False
            if journal.rpm_limited:
                journal.apply_usage(await self.store.add_usage(window, journal.take_usage()))
        except Exception as exc:
            self._fail("sync", exc)
            self.full_reload = True
            return
        if self.degraded:
            log.info("state store reachable again; key pool state resynced")
            self.degraded = False
