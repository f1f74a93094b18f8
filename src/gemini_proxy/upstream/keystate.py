"""The pool's in-memory view of one key, and its conversion to/from store records.

Kept apart from ``pool.py`` so the pool module stays about selection and waiting. Everything
here is synchronous and I/O-free; ``KeyPool`` owns the instances.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from gemini_proxy.state.base import Counters, KeyRecord, empty_record
from gemini_proxy.upstream.keys import ApiKey

__all__ = ["DAILY", "RATE", "Cooldown", "KeyState", "iso"]

CooldownKind = Literal["rate", "daily"]
RATE: CooldownKind = "rate"
DAILY: CooldownKind = "daily"


class Cooldown(NamedTuple):
    """A key (or its project) blocked for one model: until when, and why (a rate limit or the
    day's quota)."""

    until: float
    kind: CooldownKind = RATE


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add_counts(into: dict[str, Counters], model: str, delta: Counters) -> None:
    counts = into.get(model)
    if counts is None:
        into[model] = delta.copy()
    else:
        counts.add(delta)


_STEP = 1e-2  # seconds


class KeyState:
    """Mutable state of one key. ``cooldowns`` per model, ``disabled`` and ``benched_until`` are
    what selection reads."""

    __slots__ = (
        "bench_reason",
        "benched_until",
        "benches",
        "cooldowns",
        "disabled",
        "disabled_at",
        "disabled_reason",
        "enabled_at",
        "failing_since",
        "failures_in_row",
        "in_flight",
        "key",
        "recent",
        "saved_daily",
        "saved_day",
        "saved_totals",
        "short_id",
        "strikes",
        "unsaved_daily",
        "unsaved_totals",
        "window_others",
        "window_own",
        "window_unreported",
    )

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.short_id = key.short_id
        self.disabled = False
        self.disabled_at = 0.0
        self.disabled_reason = ""
        self.enabled_at = 0.0
        self.cooldowns: dict[str, Cooldown] = {}
        self.strikes: dict[str, int] = {}  # 429s without a usable delay in a row, per model (doubling)
        self.in_flight = 0
        # Outlier ejection (local to this process): server errors and timeouts in a row.
        self.failures_in_row = 0
        self.failing_since = 0.0  # when the current run of failures began
        self.benched_until = 0.0
        self.benches = 0  # benched this many times without a success since: the next bench doubles
        self.bench_reason = ""
        self.recent: deque[float] = deque()  # acquire times in the last minute (only with an RPM limit)
        self.window_unreported = 0  # acquisitions not yet reported to the store's usage window
        self.window_own = 0  # our acquisitions in the store's current usage window
        self.window_others = 0  # other processes' acquisitions in that window
        self.saved_day = ""
        self.saved_daily: dict[str, Counters] = {}  # counters as last read from the store
        self.saved_totals = Counters()
        self.unsaved_daily: dict[str, Counters] = {}  # counted here, not yet written
        self.unsaved_totals = Counters()

    # -- disabled / enabled ------------------------------------------------------------------
    # The later of disable and enable wins. The tie-break step must survive the stores' precision:
    # Redis's JSON keeps 14 significant digits, about 0.1 ms for today's epoch seconds.
    def disable(self, reason: str, now: float) -> None:
        self.disabled_at = max(now, self.enabled_at + _STEP)
        self.disabled_reason = reason
        self.disabled = True

    def enable(self, now: float) -> None:
        self.enabled_at = max(now, self.disabled_at + _STEP)
        self.disabled = False

    def cool(self, model: str, until: float, kind: CooldownKind) -> bool:
        """Block ``model`` until ``until`` unless already blocked longer. True if it changed."""
        current = self.cooldowns.get(model)
        if current is not None and until <= current.until:
            return False
        self.cooldowns[model] = Cooldown(until, kind)
        return True

    def blocked_until(self, model: str) -> float:
        cooldown = self.cooldowns.get(model)
        return cooldown.until if cooldown is not None else 0.0

    # -- store records -----------------------------------------------------------------------
    def take_update(self, day: str, now: float) -> KeyRecord:
        """The update record to write: current view + counter deltas (which are then cleared)."""
        rec = empty_record(self.short_id)
        rec["fp"] = self.key.fingerprint
        rec["dis_at"], rec["dis_reason"], rec["en_at"] = self.disabled_at, self.disabled_reason, self.enabled_at
        rec["cd"] = {m: [c.until, c.kind] for m, c in self.cooldowns.items() if c.until > now}
        if self.unsaved_daily:
            rec["day"], rec["daily"] = day, {m: c.as_list() for m, c in self.unsaved_daily.items()}
        rec["tot"] = self.unsaved_totals.as_list()
        self.unsaved_daily, self.unsaved_totals = {}, Counters()
        return rec

    def restore_update(self, rec: KeyRecord) -> None:
        """A write failed: put its counter deltas back so the next flush carries them."""
        for model, delta in rec["daily"].items():
            _add_counts(self.unsaved_daily, model, Counters.from_list(delta))
        self.unsaved_totals.add(Counters.from_list(rec["tot"]))

    def merge_record(self, rec: KeyRecord, day: str) -> bool:
        """Fold a record read from the store into this view. True if the key's disabled flag changed."""
        was_disabled = self.disabled
        if rec["dis_at"] > self.disabled_at:
            self.disabled_at, self.disabled_reason = float(rec["dis_at"]), rec["dis_reason"]
        self.enabled_at = max(self.enabled_at, float(rec["en_at"]))
        self.disabled = self.disabled_at > self.enabled_at
        for model, (until, kind) in rec["cd"].items():
            self.cool(model, float(until), DAILY if kind == DAILY else RATE)
        if rec["day"] == day:
            self.saved_day, self.saved_daily = day, {m: Counters.from_list(c) for m, c in rec["daily"].items()}
        elif rec["day"] > day or self.saved_day != day:
            self.saved_day, self.saved_daily = rec["day"], {}
        self.saved_totals = Counters.from_list(rec["tot"])
        return was_disabled != self.disabled

    # -- status ------------------------------------------------------------------------------
    def daily(self, day: str) -> dict[str, Counters]:
        counts = {m: c.copy() for m, c in self.saved_daily.items()} if self.saved_day == day else {}
        for model, delta in self.unsaved_daily.items():
            _add_counts(counts, model, delta)
        return counts

    def snapshot(self, day: str, now: float) -> dict[str, Any]:
        daily = self.daily(day)
        models: dict[str, dict[str, Any]] = {}
        for model in sorted(set(daily) | {m for m, c in self.cooldowns.items() if c.until > now}):
            entry: dict[str, Any] = daily.get(model, Counters()).as_dict("_today")
            cooldown = self.cooldowns.get(model)
            blocked = cooldown is not None and cooldown.until > now
            kind = "out_of_daily_quota" if cooldown is not None and cooldown.kind == DAILY else "cooling_down"
            entry["state"] = kind if blocked else "active"
            entry["until"] = round(cooldown.until, 3) if blocked and cooldown else None
            entry["until_utc"] = iso(cooldown.until) if blocked and cooldown else None
            models[model] = entry
        state, until_ts = "active", None
        for wanted in ("cooling_down", "out_of_daily_quota"):  # the most restrictive block names the key's state
            ends = [m["until"] for m in models.values() if m["state"] == wanted]
            if ends:
                state, until_ts = wanted, max(ends)
        if self.disabled:
            state, until_ts = "disabled", None
        totals = self.saved_totals.copy()
        totals.add(self.unsaved_totals)
        benched = self.benched_until > now
        return {
            "key": self.short_id,
            "project": self.key.project,
            "proxy": self.key.egress,  # its own outbound proxy, without credentials; None: the default
            "state": state,
            "until": until_ts,
            "until_utc": iso(until_ts) if until_ts else None,
            "reason": self.disabled_reason if self.disabled else None,
            "in_flight": self.in_flight,
            # Outlier ejection: out of rotation for a while after failing alone (None when not).
            "benched": {
                "until": round(self.benched_until, 3),
                "until_utc": iso(self.benched_until),
                "reason": self.bench_reason,
            }
            if benched
            else None,
            "models": models,
            "totals": totals.as_dict(),
        }
