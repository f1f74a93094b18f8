"""Google-like quotas: requests per minute and per day, per (project, model).

The minute window is sliding (a request frees its slot 60 s after it was admitted, which
gives the RetryInfo delay); the day window resets at midnight America/Los_Angeles.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
WINDOW = 60.0
# Limits quoted by injected 429s when rpm/rpd are unset: observed free-tier values (docs/protocol.md §8).
# Never 0: "limit: 0" means the model has no free-tier quota at all, a different, permanent signal.
DEFAULT_RPM = 15
DEFAULT_RPD = 20


def quoted_limit(configured: int | None, per_day: bool) -> int:
    """The limit a 429 quotes: the configured one, else a realistic non-zero default."""
    if configured is not None:
        return configured
    return DEFAULT_RPD if per_day else DEFAULT_RPM


def pacific_day(now: float) -> dt.date:
    return dt.datetime.fromtimestamp(now, PACIFIC).date()


def seconds_to_pacific_midnight(now: float) -> float:
    """Seconds from ``now`` until the next 00:00 in America/Los_Angeles (PST/PDT aware)."""
    tomorrow = pacific_day(now) + dt.timedelta(days=1)
    midnight = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=PACIFIC)
    return midnight.timestamp() - now


@dataclass(frozen=True)
class QuotaHit:
    """A refused request: which limit, its value, and the delay to advertise."""

    per_day: bool
    limit: int
    retry_seconds: float


class QuotaBook:
    """Counts admitted requests per bucket. The clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._minute: dict[tuple[str, str], deque[float]] = {}
        self._day: dict[tuple[str, str], tuple[dt.date, int]] = {}

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._day.clear()

    def admit(self, project: str, model: str, rpm: int | None, rpd: int | None) -> QuotaHit | None:
        """Count one request, or return why it is refused (refused requests are not counted)."""
        if rpm is None and rpd is None:
            return None
        now = self.clock()
        bucket = (project, model)
        with self._lock:
            day = pacific_day(now)
            day_count = 0
            if rpd is not None:
                seen = self._day.get(bucket)
                day_count = seen[1] if seen is not None and seen[0] == day else 0
                if day_count >= rpd:
                    return QuotaHit(True, rpd, seconds_to_pacific_midnight(now))
            window: deque[float] | None = None
            if rpm is not None:
                window = self._minute.setdefault(bucket, deque())
                while window and window[0] <= now - WINDOW:
                    window.popleft()
                if len(window) >= rpm:
                    return QuotaHit(False, rpm, window[0] + WINDOW - now)
                window.append(now)
            if rpd is not None:
                self._day[bucket] = (day, day_count + 1)
        return None

    def usage(self) -> dict[str, dict[str, int]]:
        """Current counts, for /_sim/stats: {"project|model": {"minute": n, "day": n}}."""
        now = self.clock()
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (project, model), window in self._minute.items():
                n = sum(1 for t in window if t > now - WINDOW)
                out.setdefault(f"{project}|{model}", {})["minute"] = n
            day = pacific_day(now)
            for (project, model), (d, count) in self._day.items():
                out.setdefault(f"{project}|{model}", {})["day"] = count if d == day else 0
        return out
