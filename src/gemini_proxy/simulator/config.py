"""SimulatorConfig: static settings plus the run-time controls of one simulator."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gemini_proxy.simulator.caches import CacheStore
from gemini_proxy.simulator.faults import FailSpec, Faults, KeyStateName, parse_duration
from gemini_proxy.simulator.quota import QuotaBook
from gemini_proxy.simulator.scenario import Scenario

PATCHABLE = (
    "rpm",
    "rpd",
    "stream_chunks",
    "first_byte_delay",
    "chunk_delay",
    "error_rates",
    "seed",
    "cache_min_tokens",
)


@dataclass
class SimulatorConfig:
    """Settings of the offline Gemini simulator.

    ``keys`` maps an accepted API key to its project id (``None``: the key is its own project);
    ``keys=None`` accepts any non-empty key. The run-time controls (``fail_next``,
    ``set_key_state``, ``patch``, ``reset``, ``stats``) act on a live simulator built from this
    object with ``create_app``; they are the in-process twins of the ``/_sim/`` routes.
    """

    keys: dict[str, str | None] | None = None
    invalid_keys: set[str] = field(default_factory=set)
    rpm: int | None = None
    rpd: int | None = None
    stream_chunks: int = 3
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    error_rates: dict[int, float] = field(default_factory=dict)
    seed: int = 0
    signature_secret: bytes = b"gemini-simulator"
    cache_min_tokens: int = 0
    clock: Callable[[], float] = time.time
    scenario: Scenario | None = None  # replies per turn (scenario.load); set with --script or /_sim/scenario
    faults: Faults = field(init=False, repr=False)
    quota: QuotaBook = field(init=False, repr=False)
    caches: CacheStore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.faults = Faults(self.seed)
        self.quota = QuotaBook(self.clock)
        self.caches = CacheStore(self.clock)

    # --- keys -------------------------------------------------------------------------

    def project_of(self, key: str) -> str | None:
        """The project a key belongs to, or None when the key is not accepted."""
        if self.keys is None:
            return key
        if key not in self.keys:
            return None
        project = self.keys[key]
        return key if project is None else project

    # --- run-time controls ------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, **kwargs: Any) -> FailSpec:
        """Queue ``count`` deterministic failures (same fields as ``POST /_sim/fail-next``)."""
        spec = FailSpec.from_json({"status": status, "count": count, **kwargs})
        self.faults.push(spec)
        return spec

    def set_key_state(self, key: str, state: KeyStateName, retry_delay: str | float | None = None) -> None:
        """Mark a key ``invalid``, ``exhausted_minute``, ``exhausted_day`` or ``ok``."""
        self.faults.set_key(key, state, parse_duration(retry_delay), self.clock())

    def patch(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings at run time; returns the patchable settings after the change.

        Each value is coerced to its field's type first (``"5"`` → 5); a bad value raises
        ValueError and nothing is changed.
        """
        coerced = {}
        for name, value in changes.items():
            if name not in PATCHABLE:
                raise ValueError(f"cannot patch {name!r}; patchable: {', '.join(PATCHABLE)}")
            coerced[name] = _coerce(name, value)
        for name, value in coerced.items():
            setattr(self, name, value)
            if name == "seed":
                self.faults.reset_rng(value)
        return self.settings()

    def settings(self) -> dict[str, Any]:
        return {
            name: ({str(k): v for k, v in self.error_rates.items()} if name == "error_rates" else getattr(self, name))
            for name in PATCHABLE
        }

    def reset(self) -> None:
        """Clear counters, quotas, queued faults, key states and caches."""
        self.faults.reset(self.seed)
        self.quota.reset()
        self.caches.reset()
        if self.scenario is not None:
            self.scenario.served = 0

    def stats(self) -> dict[str, Any]:
        out = self.faults.stats.to_json()
        out["quota"] = self.quota.usage()
        out["pending_faults"] = [s.to_json() for s in self.faults.queue]
        out["key_states"] = {k: v.state for k, v in self.faults.keys.items()}
        return out


def _as_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value) if isinstance(value, float) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        number = int(number)
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return number


def _as_float(name: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= (math.inf if high is None else high):  # also rejects NaN
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return number


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the type of the patchable setting ``name``, or ValueError."""
    if name in ("rpm", "rpd"):
        return None if value is None else _as_int(name, value, 0)
    if name == "stream_chunks":
        return _as_int(name, value, 1)
    if name in ("seed", "cache_min_tokens"):
        return _as_int(name, value, 0 if name == "cache_min_tokens" else -(2**63))
    if name in ("first_byte_delay", "chunk_delay"):
        return _as_float(name, value, 0.0)
    if name == "error_rates":
        if not isinstance(value, dict):
            raise ValueError(f"error_rates must be an object of status -> rate, got {value!r}")
        return {_as_int("error_rates status", k, 100): _as_float(f"error_rates[{k}]", v, 0.0, 1.0)
                for k, v in value.items()}
    raise ValueError(f"cannot patch {name!r}")
