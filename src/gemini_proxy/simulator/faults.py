"""Fault injection: queued failures, per-key states, random error rates, request statistics."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

KeyStateName = Literal["ok", "invalid", "exhausted_minute", "exhausted_day"]


def parse_duration(value: str | float | int | None) -> float | None:
    """``"2s"``, ``"1.5s"``, ``2`` → seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    return float(text[:-1] if text.endswith("s") else text)


@dataclass
class FailSpec:
    """One queued failure (``/_sim/fail-next``)."""

    status: int
    count: int = 1
    key: str | None = None
    model: str | None = None
    retry_delay: float | None = None
    per_day: bool = False
    after_chunks: int | None = None
    mid_stream_error: bool = False
    message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FailSpec:
        return cls(
            status=int(data.get("status", 503)),
            count=int(data.get("count", 1)),
            key=data.get("key"),
            model=data.get("model"),
            retry_delay=parse_duration(data.get("retry_delay")),
            per_day=bool(data.get("per_day", False)),
            after_chunks=None if data.get("after_chunks") is None else int(data["after_chunks"]),
            mid_stream_error=bool(data.get("mid_stream_error", False)),
            message=data.get("message"),
        )

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class KeyState:
    state: KeyStateName
    retry_delay: float = 60.0
    until: float | None = None  # clock time when an exhausted_minute state ends


@dataclass
class Stats:
    by_key: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    by_key_model: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    total: int = 0
    # Distinct client (host, port) pairs: TCP connections, so tests can see keep-alive reuse.
    clients: set[tuple[str, int]] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_key": dict(self.by_key),
            "by_model": dict(self.by_model),
            "by_key_model": dict(self.by_key_model),
            "by_status": dict(self.by_status),
            "connections": len(self.clients),
        }


class Faults:
    """All mutable fault/statistics state of one simulator (thread-safe, cheap)."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.queue: list[FailSpec] = []
        self.keys: dict[str, KeyState] = {}
        self.stats = Stats()
        self.rng = random.Random(seed)

    def reset(self, seed: int) -> None:
        with self._lock:
            self.queue.clear()
            self.keys.clear()
            self.stats = Stats()
            self.rng = random.Random(seed)

    def reset_rng(self, seed: int) -> None:
        with self._lock:
            self.rng = random.Random(seed)

    def push(self, spec: FailSpec) -> None:
        with self._lock:
            self.queue.append(spec)

    def take(self, key: str, model: str) -> FailSpec | None:
        """The first queued failure matching this key and model, consumed once."""
        if not self.queue:
            return None
        with self._lock:
            for i, spec in enumerate(self.queue):
                if (spec.key is None or spec.key == key) and (spec.model is None or spec.model == model):
                    spec.count -= 1
                    if spec.count <= 0:
                        del self.queue[i]
                    return spec
        return None

    def roll(self, rates: dict[int, float]) -> int | None:
        """A random status drawn from ``error_rates`` (seeded), or None."""
        if not rates:
            return None
        with self._lock:
            x = self.rng.random()
        acc = 0.0
        for status, rate in sorted(rates.items()):
            acc += rate
            if x < acc:
                return status
        return None

    def set_key(self, key: str, state: KeyStateName, retry_delay: float | None, now: float) -> None:
        with self._lock:
            if state == "ok":
                self.keys.pop(key, None)
                return
            delay = 60.0 if retry_delay is None else retry_delay
            until = now + delay if state == "exhausted_minute" else None
            self.keys[key] = KeyState(state, delay, until)

    def key_state(self, key: str, now: float) -> KeyState | None:
        if not self.keys:
            return None
        ks = self.keys.get(key)
        if ks is not None and ks.until is not None and now >= ks.until:
            with self._lock:
                self.keys.pop(key, None)
            return None
        return ks

    def record(self, key: str, model: str, status: int, client: Any = None) -> None:
        with self._lock:
            s = self.stats
            s.total += 1
            if client:
                s.clients.add((str(client[0]), int(client[1])))
            s.by_key[key] += 1
            s.by_status[str(status)] += 1
            if model:
                s.by_model[model] += 1
                s.by_key_model[f"{key}|{model}"] += 1
