"""The pool's key states as the state store sees them: what changed since the last write, the
Pacific day the counters belong to, and the folding-in of what other processes wrote.

``KeyJournal`` is the narrow interface between ``KeyPool`` (which changes key states in memory and
marks them) and ``PoolSync`` (which writes and reads the store in the background): the sync task
calls only the methods of ``Journal``, never a ``KeyState`` field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from gemini_proxy.state.base import KeyRecord
from gemini_proxy.upstream.keystate import KeyState
from gemini_proxy.upstream.quota import next_pacific_midnight, pacific_day

__all__ = ["Journal", "KeyJournal"]

log = logging.getLogger("gemini_proxy.pool")


class Journal(Protocol):
    """What ``PoolSync`` may ask of the pool's view."""

    @property
    def rpm_limited(self) -> bool: ...

    def now(self) -> float: ...

    def take_updates(self) -> list[KeyRecord]:
        """An update record (view + counter deltas, which are then cleared) per changed key."""
        ...

    def restore_updates(self, updates: Sequence[KeyRecord]) -> None:
        """Those updates were not written: keep their deltas for the next write."""

    def mark_all_changed(self) -> None:
        """The next ``take_updates`` carries every key (the store may have lost everything)."""

    def roll_day(self, now: float) -> None: ...

    def apply_records(self, records: Sequence[KeyRecord], *, initial: bool = False) -> None:
        """Fold records other processes wrote (or, ``initial``, the saved state) into the view."""

    def new_usage_window(self) -> None:
        """A new minute: everyone's usage of the last one no longer counts."""

    def take_usage(self) -> dict[str, int]:
        """Acquisitions per key not yet reported to the store's usage window (then counted as ours)."""
        ...

    def apply_usage(self, totals: Mapping[str, int]) -> None:
        """Every process's acquisitions per key in the current window."""


class KeyJournal:
    """The ``Journal`` of one pool: owns every key state ever configured and the changed set."""

    def __init__(self, clock: Callable[[], float], on_change: Callable[[], None], *, rpm_limited: bool) -> None:
        self.states: dict[str, KeyState] = {}  # removed keys keep their state
        self.changed: set[str] = set()  # the pool adds to it on every release
        self.day = ""
        self.day_end = 0.0
        self._clock = clock
        self._on_change = on_change
        self._rpm_limited = rpm_limited

    @property
    def rpm_limited(self) -> bool:
        return self._rpm_limited

    def now(self) -> float:
        return self._clock()

    def take_updates(self) -> list[KeyRecord]:
        if not self.changed:
            return []
        now = self._clock()
        changed = [self.states[sid] for sid in self.changed if sid in self.states]
        self.changed.clear()
        return [st.take_update(self.day, now) for st in changed]

    def restore_updates(self, updates: Sequence[KeyRecord]) -> None:
        for rec in updates:
            st = self.states.get(rec["id"])
            if st is not None:
                st.restore_update(rec)
                self.changed.add(rec["id"])

    def mark_all_changed(self) -> None:
        self.changed.update(self.states)

    def roll_day(self, now: float) -> None:
        if now >= self.day_end:
            self.day, self.day_end = pacific_day(now), next_pacific_midnight(now)

    def apply_records(self, records: Sequence[KeyRecord], *, initial: bool = False) -> None:
        """On the first load, a key whose keys-file line changed since the record was written
        (fingerprint differs) is re-enabled: editing the line is the fix."""
        changed = False
        for rec in records:
            st = self.states.get(rec["id"])
            if st is None:
                continue
            flipped = st.merge_record(rec, self.day)
            if initial and st.disabled and rec["fp"] and rec["fp"] != st.key.fingerprint:
                st.enable(self._clock())
                self.changed.add(st.short_id)
                log.info("key %s re-enabled: its keys-file line changed since it was disabled", st.short_id)
            elif initial and flipped:
                log.warning("key %s is disabled (%s) from the saved state", st.short_id, st.disabled_reason)
            elif flipped:
                state = f"disabled ({st.disabled_reason})" if st.disabled else "enabled"
                log.warning("key %s %s by another worker/replica", st.short_id, state)
            changed = True
        if changed:
            self._on_change()

    def new_usage_window(self) -> None:
        for st in self.states.values():
            st.window_own = 0
            st.window_others = 0

    def take_usage(self) -> dict[str, int]:
        counts = {}
        for st in self.states.values():
            counts[st.short_id] = st.window_unreported
            st.window_own += st.window_unreported
            st.window_unreported = 0
        return counts

    def apply_usage(self, totals: Mapping[str, int]) -> None:
        for st in self.states.values():
            st.window_others = max(0, totals.get(st.short_id, 0) - st.window_own)
