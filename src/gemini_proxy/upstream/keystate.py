"""The pool's in-memory view of one key, and its conversion to/from store records.

Kept apart from ``pool.py`` so the pool module stays about selection and waiting. Everything
here is synchronous and I/O-free; ``KeyPool`` owns the instances.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from gemini_proxy.state.base import COUNTER_FIELDS, KeyRecord, empty_record
from gemini_proxy.upstream.keys import ApiKey

__all__ = ["KeyState", "add_counts", "iso"]

RATE = "rate"
DAILY = "daily"


def add_counts(into: dict[str, list[int]], model: str, delta: list[int]) -> None:
    counts = into.get(model)
    if counts is None:
        into[model] = list(delta)
    else:
        for i, value in enumerate(delta):
            counts[i] += value


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_STEP = 1e-2  # seconds


class KeyState:
    """Mutable state of one key. ``until``/``kind`` per model is what selection reads."""

    __slots__ = (
        "base_daily",
        "base_day",
        "base_tot",
        "dis_at",
        "dis_reason",
        "en_at",
        "in_flight",
        "key",
        "kind",
        "off",
        "pend_daily",
        "pend_tot",
        "recent",
        "remote_rpm",
        "rpm_unsent",
        "sid",
        "strikes",
        "until",
        "win_local",
    )

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.sid = key.short_id
        self.off = False
        self.dis_at = 0.0
        self.dis_reason = ""
        self.en_at = 0.0
        self.until: dict[str, float] = {}
        self.kind: dict[str, str] = {}
        self.strikes: dict[str, int] = {}
        self.in_flight = 0
        self.recent: deque[float] = deque()  # acquire times in the last minute (only with an RPM limit)
        self.rpm_unsent = 0  # acquisitions not yet reported to the store's usage window
        self.win_local = 0  # our acquisitions in the store's current usage window
        self.remote_rpm = 0  # other processes' acquisitions in that window
        self.base_day = ""
        self.base_daily: dict[str, list[int]] = {}  # counters as last read from the store
        self.base_tot = [0, 0, 0, 0]
        self.pend_daily: dict[str, list[int]] = {}  # counted here, not yet written
        self.pend_tot = [0, 0, 0, 0]

    # -- disabled / enabled ------------------------------------------------------------------
    # The later of disable and enable wins. The tie-break step must survive the stores' precision:
    # Redis's JSON keeps 14 significant digits, about 0.1 ms for today's epoch seconds.
    def disable(self, reason: str, now: float) -> None:
        self.dis_at = max(now, self.en_at + _STEP)
        self.dis_reason = reason
        self.off = True

    def enable(self, now: float) -> None:
        self.en_at = max(now, self.dis_at + _STEP)
        self.off = False

    def cool(self, model: str, until: float, kind: str) -> bool:
        """Block ``model`` until ``until`` unless already blocked longer. True if it changed."""
        if until <= self.until.get(model, 0.0):
            return False
        self.until[model] = until
        self.kind[model] = kind
        return True

    # -- store records -----------------------------------------------------------------------
    def take_update(self, day: str, now: float) -> KeyRecord:
        """The update record to write: current view + counter deltas (which are then cleared)."""
        rec = empty_record(self.sid)
        rec["fp"] = self.key.fingerprint
        rec["dis_at"], rec["dis_reason"], rec["en_at"] = self.dis_at, self.dis_reason, self.en_at
        rec["cd"] = {m: [u, self.kind.get(m, RATE)] for m, u in self.until.items() if u > now}
        if self.pend_daily:
            rec["day"], rec["daily"] = day, self.pend_daily
        rec["tot"] = self.pend_tot
        self.pend_daily, self.pend_tot = {}, [0, 0, 0, 0]
        return rec

    def restore_update(self, rec: KeyRecord) -> None:
        """A write failed: put its counter deltas back so the next flush carries them."""
        for model, delta in rec["daily"].items():
            add_counts(self.pend_daily, model, delta)
        self.pend_tot = [a + b for a, b in zip(self.pend_tot, rec["tot"], strict=True)]

    def merge_record(self, rec: KeyRecord, day: str) -> bool:
        """Fold a record read from the store into this view. True if the key's disabled flag changed."""
        was_off = self.off
        if rec["dis_at"] > self.dis_at:
            self.dis_at, self.dis_reason = float(rec["dis_at"]), rec["dis_reason"]
        self.en_at = max(self.en_at, float(rec["en_at"]))
        self.off = self.dis_at > self.en_at
        for model, (until, kind) in rec["cd"].items():
            self.cool(model, float(until), str(kind))
        if rec["day"] == day:
            self.base_day, self.base_daily = day, {m: list(c) for m, c in rec["daily"].items()}
        elif rec["day"] > day or self.base_day != day:
            self.base_day, self.base_daily = rec["day"], {}
        self.base_tot = list(rec["tot"])
        return was_off != self.off

    # -- status ------------------------------------------------------------------------------
    def daily(self, day: str) -> dict[str, list[int]]:
        counts = {m: list(c) for m, c in self.base_daily.items()} if self.base_day == day else {}
        for model, delta in self.pend_daily.items():
            add_counts(counts, model, delta)
        return counts

    def snapshot(self, day: str, now: float) -> dict[str, Any]:
        daily = self.daily(day)
        models: dict[str, dict[str, Any]] = {}
        for model in sorted(set(daily) | {m for m, u in self.until.items() if u > now}):
            counts = daily.get(model, [0, 0, 0, 0])
            entry: dict[str, Any] = {f + "_today": counts[i] for i, f in enumerate(COUNTER_FIELDS)}
            until = self.until.get(model, 0.0)
            blocked = until > now
            kind = "out_of_daily_quota" if self.kind.get(model) == DAILY else "cooling_down"
            entry["state"] = kind if blocked else "active"
            entry["until"] = round(until, 3) if blocked else None
            entry["until_utc"] = iso(until) if blocked else None
            models[model] = entry
        state, until_ts = "active", None
        for wanted in ("cooling_down", "out_of_daily_quota"):  # the most restrictive block names the key's state
            ends = [m["until"] for m in models.values() if m["state"] == wanted]
            if ends:
                state, until_ts = wanted, max(ends)
        if self.off:
            state, until_ts = "disabled", None
        return {
            "key": self.sid,
            "project": self.key.project,
            "state": state,
            "until": until_ts,
            "until_utc": iso(until_ts) if until_ts else None,
            "reason": self.dis_reason if self.off else None,
            "in_flight": self.in_flight,
            "models": models,
            "totals": {f: self.base_tot[i] + self.pend_tot[i] for i, f in enumerate(COUNTER_FIELDS)},
        }
