"""Metrics (Prometheus) and structured logs.

``Metrics`` owns its own registry (no module globals), created in the app's lifespan. Key state
is collected at scrape time from the pool's snapshot, labelled by short id only.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_KEY_STATES = ("active", "cooling_down", "out_of_daily_quota", "disabled")


class Metrics:
    def __init__(self, snapshot: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.started = time.time()
        self.requests = Counter(
            "gemini_proxy_requests",
            "Client requests by surface, model and HTTP status.",
            ("surface", "model", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gemini_proxy_request_duration_seconds",
            "Time to the full answer (streams: to the last byte), by surface.",
            ("surface",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.attempts = Counter(
            "gemini_proxy_upstream_attempts",
            "Requests sent to Gemini by outcome (ok, rate_limited, invalid_key, transient, client_error).",
            ("outcome",),
            registry=self.registry,
        )
        self.tokens = Counter(
            "gemini_proxy_tokens", "Tokens by model and direction (in, out).", ("model", "direction"),
            registry=self.registry,
        )
        self.totals = {"total": 0, "successful": 0, "failed": 0, "retried": 0}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if snapshot is not None:
            self.registry.register(_KeyStateCollector(snapshot))

    # Called by the gateway for every upstream attempt.
    def attempt(self, outcome: str) -> None:
        self.attempts.labels(outcome).inc()
        if outcome != "ok" and outcome != "client_error":
            self.totals["retried"] += 1

    def observe_request(self, surface: str, model: str, status: int, seconds: float) -> None:
        # labels() locks and validates on every call; the children are kept instead (bounded below).
        children = self._children.get((surface, model, status))
        if children is None:
            if len(self._children) > 10_000:
                self._children.clear()
            children = self._children[(surface, model, status)] = (
                self.requests.labels(surface, model, str(status)),
                self.latency.labels(surface),
            )
        children[0].inc()
        children[1].observe(seconds)
        self.totals["total"] += 1
        self.totals["successful" if status < 400 else "failed"] += 1

    def observe_tokens(self, model: str, prompt: int, completion: int) -> None:
        if prompt:
            self.tokens.labels(model, "in").inc(prompt)
        if completion:
            self.tokens.labels(model, "out").inc(completion)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _KeyStateCollector(Collector):
    def __init__(self, snapshot: Callable[[], list[dict[str, Any]]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "gemini_proxy_key_state", "1 for the state each key is in (by short id).", labels=("key", "state")
        )
        for entry in self._snapshot():
            state = str(entry.get("state", "active"))
            for name in _KEY_STATES:
                family.add_metric((str(entry.get("key", "?")), name), 1.0 if name == state else 0.0)
        yield family


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _standard = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._standard:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def setup_logging(level: str) -> None:
    """Structured logs on stderr for gemini-proxy and uvicorn."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
