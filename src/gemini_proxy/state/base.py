"""The ``StateStore`` protocol and the key-record merge rules shared by every store.

A *key record* is the persistent state of one key, by ``short_id`` (never the secret)::

    {"id": "work-1",              # short_id
     "fp": "3f2a...",             # fingerprint of the key's line (secret+attributes), see ApiKey
     "dis_at": 1780000000.0,      # last time the key was disabled   } disabled iff
     "dis_reason": "API_KEY_INVALID",                                 } dis_at > en_at
     "en_at": 0.0,                # last explicit enable              }
     "cd": {"gemini-2.5-flash": [1780000058.0, "rate"]},   # cooldown until + kind ("rate"|"daily")
     "day": "2026-03-08",         # Pacific day the daily counters belong to
     "daily": {"gemini-2.5-flash": [requests, prompt_tokens, output_tokens, rate_limited]},
     "tot": [requests, prompt_tokens, output_tokens, rate_limited]}      # all-time totals

A pool writes *updates* of the same shape, where ``daily`` and ``tot`` are **deltas** (counted
since its last flush) and the rest is its current view. ``merge_record`` applies one: the
later cooldown ``until`` wins, the later ``dis_at``/``en_at`` win (so "disabled" holds until
an enable carries a newer timestamp), counters add up within a day and a newer day replaces
an older one. The rules commute, so workers and replicas converge whatever the write order.
The Redis store runs the same rules in Lua (``state/redis.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypedDict

__all__ = ["COUNTER_FIELDS", "Counters", "KeyRecord", "StateStore", "empty_record", "merge_record"]

COUNTER_FIELDS = ("requests", "prompt_tokens", "output_tokens", "rate_limited")


class Counters:
    """A key's counts for one model and day, or for all time. Records store them as a list in
    ``COUNTER_FIELDS`` order (``as_list`` / ``from_list``); code reads them by name."""

    __slots__ = COUNTER_FIELDS

    def __init__(
        self, requests: int = 0, prompt_tokens: int = 0, output_tokens: int = 0, rate_limited: int = 0
    ) -> None:
        self.requests = requests
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.rate_limited = rate_limited

    @classmethod
    def from_list(cls, values: Sequence[Any]) -> Counters:
        return cls(*(int(v) for v in list(values)[: len(COUNTER_FIELDS)]))

    def as_list(self) -> list[int]:
        return [self.requests, self.prompt_tokens, self.output_tokens, self.rate_limited]

    def as_dict(self, suffix: str = "") -> dict[str, int]:
        return {name + suffix: getattr(self, name) for name in COUNTER_FIELDS}

    def add(self, other: Counters) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.output_tokens += other.output_tokens
        self.rate_limited += other.rate_limited

    def copy(self) -> Counters:
        return Counters(self.requests, self.prompt_tokens, self.output_tokens, self.rate_limited)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counters) and self.as_list() == other.as_list()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return "Counters(" + ", ".join(f"{n}={getattr(self, n)}" for n in COUNTER_FIELDS) + ")"


class KeyRecord(TypedDict):
    id: str
    fp: str
    dis_at: float
    dis_reason: str
    en_at: float
    cd: dict[str, list[Any]]
    day: str
    daily: dict[str, list[int]]
    tot: list[int]


def empty_record(short_id: str) -> KeyRecord:
    return {
        "id": short_id,
        "fp": "",
        "dis_at": 0.0,
        "dis_reason": "",
        "en_at": 0.0,
        "cd": {},
        "day": "",
        "daily": {},
        "tot": [0, 0, 0, 0],
    }


def _add(into: list[int], delta: Sequence[int]) -> list[int]:
    return [a + b for a, b in zip(into, delta, strict=False)] + list(into[len(delta) :])


def merge_record(record: KeyRecord, update: KeyRecord, now: float) -> KeyRecord:
    """Apply ``update`` (current view + counter deltas) to ``record``; drops cooldowns ended before ``now``."""
    out = empty_record(record["id"])
    out["fp"] = update["fp"] or record["fp"]
    if update["dis_at"] > record["dis_at"]:
        out["dis_at"], out["dis_reason"] = update["dis_at"], update["dis_reason"]
    else:
        out["dis_at"], out["dis_reason"] = record["dis_at"], record["dis_reason"]
    out["en_at"] = max(record["en_at"], update["en_at"])
    cooldowns = {m: list(v) for m, v in record["cd"].items() if float(v[0]) > now}
    for model, (until, kind) in update["cd"].items():
        if float(until) > now and float(until) > float(cooldowns.get(model, (0.0, ""))[0]):
            cooldowns[model] = [float(until), str(kind)]
    out["cd"] = cooldowns
    if not update["day"] or update["day"] < record["day"]:  # no counters, or a stale day: keep
        out["day"], out["daily"] = record["day"], {m: list(c) for m, c in record["daily"].items()}
    elif update["day"] > record["day"]:
        out["day"], out["daily"] = update["day"], {m: list(c) for m, c in update["daily"].items()}
    else:
        daily = {m: list(c) for m, c in record["daily"].items()}
        for model, delta in update["daily"].items():
            daily[model] = _add(daily.get(model, [0, 0, 0, 0]), delta)
        out["day"], out["daily"] = record["day"], daily
    out["tot"] = _add(list(record["tot"]), update["tot"])
    return out


class StateStore(Protocol):
    """Async persistence for the key pool and small key-value records.

    The pool never calls a store on its hot path: it loads at ``start``, then a background
    task calls ``save_records`` (write-behind) and ``changes_since`` (to see other processes'
    changes) a few times a second. Implementations: memory, SQLite, Redis.
    """

    async def open(self) -> None:
        """Connect / create the schema. Idempotent; other methods open lazily too."""

    async def close(self) -> None: ...

    async def load_records(self) -> tuple[list[KeyRecord], int]:
        """Every key record and the store's current version."""
        ...

    async def save_records(self, updates: Sequence[KeyRecord]) -> None:
        """Merge each update into its record atomically (``merge_record`` rules); bumps the version."""

    async def changes_since(self, version: int) -> tuple[list[KeyRecord], int]:
        """Records changed after ``version`` and the current version (a smaller one = store was reset)."""
        ...

    async def add_usage(self, window: int, counts: Mapping[str, int]) -> dict[str, int]:
        """Add request counts per short_id for minute ``window``; return every process's total per id."""
        ...

    async def add_counts(
        self, namespace: str, counts: Mapping[int, Mapping[str, int]], *, read: range, ttl: float
    ) -> dict[int, dict[str, int]]:
        """Add ``counts`` (per window, per id) to the windows of ``namespace`` (each kept ``ttl``
        seconds after its last write), then return every process's totals of the windows in
        ``read`` (those with any), in one exchange. Per-client limits share their requests and
        tokens per minute and per day this way."""
        ...

    async def share_gauges(
        self, namespace: str, member: str, values: Mapping[str, int], *, ttl: float
    ) -> dict[str, int]:
        """Replace ``member``'s values in ``namespace`` (forgotten ``ttl`` seconds after this call,
        if it is not repeated); return the sum over every member still there. Per-client
        requests in flight are shared this way (a member is one process)."""
        ...

    async def put_many(self, namespace: str, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        """Store string values under ``namespace`` (e.g. "sig", "cache"), expiring after ``ttl`` seconds."""

    async def get_many(self, namespace: str, keys: Sequence[str]) -> dict[str, str]:
        """Values found (and not expired) for ``keys``; missing ones are left out."""
        ...
