"""The pool's background sync with its ``StateStore`` and its "no key" messages.

``PoolSync`` runs every ``interval`` seconds (default 0.25 s):

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
from typing import TYPE_CHECKING

from gemini_proxy.state.base import KeyRecord, StateStore

if TYPE_CHECKING:
    from gemini_proxy.upstream.pool import KeyPool

__all__ = ["PoolSync"]

log = logging.getLogger("gemini_proxy.pool")

CLOSE_TIMEOUT = 3.0


class PoolSync:
    def __init__(self, pool: KeyPool, store: StateStore, interval: float) -> None:
        self.pool = pool
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
                self._merge(records, initial=True)
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
        pool = self.pool
        now = pool.now()
        dirty = pool.take_dirty()
        states = [st for st in pool.states() if st.sid in dirty]
        updates = [st.take_update(pool.day, now) for st in states]
        if not updates:
            return
        write = asyncio.ensure_future(self.store.save_records(updates))
        self._writing = write

        def settle(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:  # not written: the next flush carries them
                for st, rec in zip(states, updates, strict=True):
                    st.restore_update(rec)
                pool.mark_dirty(dirty)

        write.add_done_callback(settle)
        # Shielded: a write that has begun runs to its end even if this task is cancelled (at
        # shutdown). SQLite's thread would commit it anyway; re-queueing its deltas on the
        # cancellation would have the final flush write them a second time.
        await asyncio.shield(write)

    async def sync_once(self) -> None:
        pool = self.pool
        now = pool.now()
        window = int(now // 60)
        if pool.rpm and window != self.window:
            # A new minute: other replicas' usage of the last one no longer counts, store or no store
            # (a store that is down must not leave a key "busy" for good).
            self.window = window
            for st in pool.states():
                st.win_local = 0
                st.remote_rpm = 0
        try:
            if self.degraded:  # the store may have lost everything: push our whole view first
                pool.mark_dirty({st.sid for st in pool.states()})
            await self._flush()  # counted before the day rolls: written under the old day
        except Exception as exc:
            self._fail("write", exc)
            self.full_reload = True
            pool.roll_day(now)
            return
        pool.roll_day(now)
        try:
            if self.full_reload:
                records, version = await self.store.load_records()
            else:
                records, version = await self.store.changes_since(self.version)
                if version < self.version:
                    log.warning("state store was reset (version went backwards); resyncing the key pool")
                    pool.mark_dirty({st.sid for st in pool.states()})
                    records, version = await self.store.load_records()
            self._merge(records)
            self.version, self.full_reload = version, False
            if pool.rpm:
                await self._usage(window)
        except Exception as exc:
            self._fail("sync", exc)
            self.full_reload = True
            return
        if self.degraded:
            log.info("state store reachable again; key pool state resynced")
            self.degraded = False

    def _merge(self, records: list[KeyRecord], *, initial: bool = False) -> None:
        """Fold store records in. On the first load, a key whose keys-file line changed since the
        record was written (fingerprint differs) is re-enabled: editing the line is the fix."""
        pool = self.pool
        by_id = {st.sid: st for st in pool.states()}
        changed = False
        for rec in records:
            st = by_id.get(rec["id"])
            if st is None:
                continue
            flipped = st.merge_record(rec, pool.day)
            if initial and st.off and rec["fp"] and rec["fp"] != st.key.fingerprint:
                st.enable(pool.now())
                pool.mark_dirty({st.sid})
                log.info("key %s re-enabled: its keys-file line changed since it was disabled", st.sid)
            elif initial and flipped:
                log.warning("key %s is disabled (%s) from the saved state", st.sid, st.dis_reason)
            elif flipped:
                state = f"disabled ({st.dis_reason})" if st.off else "enabled"
                log.warning("key %s %s by another worker/replica", st.sid, state)
            changed = True
        if changed:
            pool.notify()

    async def _usage(self, window: int) -> None:
        states = self.pool.states()
        counts = {st.sid: st.rpm_unsent for st in states}
        for st in states:
            st.win_local += st.rpm_unsent
            st.rpm_unsent = 0
        totals = await self.store.add_usage(window, counts)
        for st in states:
            st.remote_rpm = max(0, totals.get(st.sid, 0) - st.win_local)
