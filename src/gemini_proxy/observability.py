"""Metrics (Prometheus) and structured logs.

``Metrics`` owns its own registry (no module globals), created in the app's lifespan. Key state
is collected at scrape time from the pool's snapshot, labelled by short id only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gemini_proxy.upstream.model_names import KnownModels
    from gemini_proxy.upstream.quota import Success

_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CLIENT_COUNTS = ("requests", "errors", "input_tokens", "output_tokens", "thinking_tokens")
_MAX_CLIENT_MODELS = 50  # models with their own usage counts per client
_KEY_STATES = ("active", "cooling_down", "out_of_daily_quota", "disabled")
# The id of the request being served (its ``x-request-id``), set by the ASGI app for the request's
# task and by the agent runner for a job's: every log line written meanwhile carries it.
request_id: ContextVar[str | None] = ContextVar("gemini_proxy_request_id", default=None)
# The name of the client being served (api/auth.py resolved its token): in every log line of its request.
client_name: ContextVar[str | None] = ContextVar("gemini_proxy_client", default=None)
_MAX_SERIES = 2_000  # label combinations per metric; past it new models count as "(other)", memory stays bounded


class Metrics:
    """Request, upstream and token counters, exposed in Prometheus' text format.

    Counting happens on every request, so it is plain dict arithmetic (the event loop is one
    thread: no locks); ``prometheus_client`` only formats the numbers when ``/metrics`` is read.
    """

    def __init__(
        self,
        snapshot: Callable[[], list[dict[str, Any]]] | None = None,
        share_dir: Path | None = None,
        *,
        names: KnownModels | None = None,
    ) -> None:
        self.started = time.time()
        # Model labels are known models or "(other)" (``upstream/model_names.py``); None: as given.
        self._bucket: Callable[[str], str] = names.bucket if names is not None else str
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str, str], list[float]] = {}  # series -> bucket counts (+Inf last), sum
        self.attempts: dict[str, int] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        # Each client's usage: (client, model, what) -> count, what in CLIENT_COUNTS. Clients are
        # the configured ones; models past _MAX_CLIENT_MODELS for one client count as "(other)".
        self.clients: dict[tuple[str, str, str], int] = {}
        self._client_models: dict[str, set[str]] = {}
        # Told the tokens of every answer (the token limits: ``limits.ClientLimiter.spend``).
        self.on_tokens: Callable[[str, int], None] | None = None
        self.totals = {"total": 0, "successful": 0, "failed": 0, "retried": 0}
        self.share = WorkerShare(share_dir) if share_dir is not None else None
        self.jobs: dict[tuple[str, str], int] = {}  # (agent, final status) -> jobs
        self.jobs_running: Callable[[], int] | None = None  # agent jobs running in this process
        # Requests that found every upstream connection busy: how long they waited (bucket counts, +Inf, sum).
        self.connection_wait: list[float] = [0.0] * (len(_WAIT_BUCKETS) + 2)
        # This process's upstream connections now: (open, idle, requests waiting for one).
        self.upstream_connections: Callable[[], tuple[int, int, int]] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Exporter(self, snapshot))

    # Called by the gateway for every upstream attempt.
    def attempt(self, outcome: str) -> None:
        self.attempts[outcome] = self.attempts.get(outcome, 0) + 1
        if outcome != "ok" and outcome != "client_error":
            self.totals["retried"] += 1

    # Called by the connection pool when a request had to wait for a connection.
    def observe_connection_wait(self, seconds: float) -> None:
        buckets = self.connection_wait
        buckets[bisect_left(_WAIT_BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def observe_request(self, surface: str, model: str, status: int, seconds: float, client: str | None = None) -> None:
        model = self._bucket(model)
        if client is not None:
            self._count_client(client, model, "errors" if status >= 400 else "requests", 1)
        series = (surface, model, str(status))
        count = self.requests.get(series)
        if count is None and len(self.requests) >= _MAX_SERIES:
            series = (surface, "(other)", str(status))
            count = self.requests.get(series)
        self.requests[series] = (count or 0) + 1
        buckets = self.latency.get(series)
        if buckets is None:
            buckets = self.latency[series] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        buckets[-1] += seconds
        self.totals["total"] += 1
        self.totals["successful" if status < 400 else "failed"] += 1

    def _observe_tokens(self, model: str, prompt: int, completion: int) -> None:
        """Tokens by model and direction (``gemini_proxy_tokens_total``)."""
        model = self._bucket(model)
        for direction, amount in (("in", prompt), ("out", completion)):
            if amount and (len(self.tokens) < _MAX_SERIES or (model, direction) in self.tokens):
                self.tokens[(model, direction)] = self.tokens.get((model, direction), 0) + amount

    # Called by the gateway for every answered call (unary or a stream's end, every surface) and
    # for tokens counted apart (``Gateway.counted``), in the context of the client it was for.
    def served(self, model: str, usage: Success) -> None:
        client = client_name.get() or "anon"
        if usage.prompt_tokens or usage.output_tokens or usage.thought_tokens:
            self._observe_tokens(model, usage.prompt_tokens, usage.output_tokens)
            model = self._client_model(client, model)
            counts = self.clients
            if usage.prompt_tokens:
                series = (client, model, "input_tokens")
                counts[series] = counts.get(series, 0) + usage.prompt_tokens
            if usage.output_tokens:
                series = (client, model, "output_tokens")
                counts[series] = counts.get(series, 0) + usage.output_tokens - usage.thought_tokens
            if usage.thought_tokens:
                series = (client, model, "thinking_tokens")
                counts[series] = counts.get(series, 0) + usage.thought_tokens
        if self.on_tokens is not None:
            self.on_tokens(client, usage.prompt_tokens + usage.output_tokens)

    def _count_client(self, client: str, model: str, what: str, amount: int) -> None:
        series = (client, self._client_model(client, model), what)
        self.clients[series] = self.clients.get(series, 0) + amount

    def _client_model(self, client: str, model: str) -> str:
        """The model label of ``client``'s series: at most ``_MAX_CLIENT_MODELS`` per client."""
        model = self._bucket(model) or "(none)"  # "": a request refused before its model was read, a listing
        models = self._client_models.get(client)
        if models is None:
            models = self._client_models[client] = set()
        if model not in models:
            if len(models) >= _MAX_CLIENT_MODELS:
                return "(other)"
            models.add(model)
        return model

    def client_usage(self) -> dict[str, dict[str, dict[str, int]]]:
        """Usage by client and model (every worker's): ``{"alice": {"gemini-2.5-flash": {"requests": 3, ...}}}``."""
        result: dict[str, dict[str, dict[str, int]]] = {}
        for (client, model, what), count in self.combined().clients.items():
            counts = result.setdefault(client, {}).setdefault(model, dict.fromkeys(CLIENT_COUNTS, 0))
            counts[what] = counts.get(what, 0) + count
        return result

    def by_surface(self) -> dict[str, dict[str, int]]:
        """Requests counted so far by surface and HTTP status (models summed): ``{"openai": {"200": 3}}``."""
        result: dict[str, dict[str, int]] = {}
        for (surface, _model, status), count in self.requests.items():
            statuses = result.setdefault(surface, {})
            statuses[status] = statuses.get(status, 0) + count
        return result

    def observe_job(self, agent: str, status: str) -> None:
        """An agent job ended (succeeded, failed, cancelled). Agent names come from configuration."""
        self.jobs[(agent, status)] = self.jobs.get((agent, status), 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # Several worker processes (``serve --workers N``): each shares its counts through a file in
    # ``share_dir`` and a scrape of any worker shows the sum over all of them.
    def dump(self) -> dict[str, Any]:
        return {
            "requests": [[*labels, value] for labels, value in self.requests.items()],
            "latency": [[*labels, buckets] for labels, buckets in self.latency.items()],
            "attempts": self.attempts,
            "tokens": [[*labels, value] for labels, value in self.tokens.items()],
            "clients": [[*labels, value] for labels, value in self.clients.items()],
            "totals": self.totals,
            "jobs": [[*labels, value] for labels, value in self.jobs.items()],
            "connection_wait": self.connection_wait,
        }

    def combined(self) -> Metrics:
        """These counts, plus every other worker's last shared ones; ``self`` when there are none."""
        others = self.share.others() if self.share is not None else []
        if not others:
            return self
        out = Metrics()
        out.jobs_running = self.jobs_running  # gauges of this process, not sums
        out.upstream_connections = self.upstream_connections
        for dump in [self.dump(), *others]:
            _add_dump(out, dump)
        return out

    def share_now(self) -> None:
        if self.share is not None:
            self.share.write(self.dump())

    async def share_forever(self, interval: float = 1.0) -> None:
        """Writes this worker's counts every ``interval`` seconds until cancelled, then once more."""
        try:
            while True:
                self.share_now()
                await asyncio.sleep(interval)
        finally:
            self.share_now()


def _add_dump(into: Metrics, dump: dict[str, Any]) -> None:
    for surface, model, status, value in dump.get("requests", []):
        series = (surface, model, status)
        into.requests[series] = into.requests.get(series, 0) + int(value)
    for surface, model, status, buckets in dump.get("latency", []):
        series = (surface, model, status)
        have = into.latency.setdefault(series, [0.0] * len(buckets))
        into.latency[series] = [a + float(b) for a, b in zip(have, buckets, strict=True)]
    for outcome, value in dump.get("attempts", {}).items():
        into.attempts[outcome] = into.attempts.get(outcome, 0) + int(value)
    for model, direction, value in dump.get("tokens", []):
        into.tokens[(model, direction)] = into.tokens.get((model, direction), 0) + int(value)
    for client, model, what, value in dump.get("clients", []):
        into.clients[(client, model, what)] = into.clients.get((client, model, what), 0) + int(value)
    for name, value in dump.get("totals", {}).items():
        into.totals[name] = into.totals.get(name, 0) + int(value)
    for agent, status, value in dump.get("jobs", []):
        into.jobs[(agent, status)] = into.jobs.get((agent, status), 0) + int(value)
    wait = dump.get("connection_wait")
    if wait is not None and len(wait) == len(into.connection_wait):
        into.connection_wait = [a + float(b) for a, b in zip(into.connection_wait, wait, strict=True)]


class WorkerShare:
    """One JSON file of counts per worker process in a directory that ``serve`` makes for them.

    A worker rewrites its own file (atomically) every second and reads the others' at scrape
    time, so the sum lags by up to a second. The file of a worker that exited stays: its counts
    still count, as Prometheus expects of counters.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.own = directory / f"worker-{os.getpid()}.json"
        # Every worker file seen so far. A listing made while a file is being replaced may miss
        # it; opening it by name never does (the rename swaps it in at once).
        self.known: set[Path] = set()

    def write(self, dump: dict[str, Any]) -> None:
        temporary = self.own.with_suffix(".tmp")
        try:
            temporary.write_bytes(orjson.dumps(dump))
            temporary.replace(self.own)
        except OSError as exc:
            logging.getLogger("gemini_proxy").warning("cannot share this worker's metrics: %s", exc)

    def others(self) -> list[dict[str, Any]]:
        found = []
        self.known.update(self.directory.glob("worker-*.json"))
        self.known.discard(self.own)
        for path in sorted(self.known):
            try:
                found.append(orjson.loads(path.read_bytes()))
            except (OSError, orjson.JSONDecodeError):
                continue  # gone with its folder
        return found


class _Exporter(Collector):
    """Turns the counts into Prometheus metric families when they are scraped."""

    def __init__(self, metrics: Metrics, snapshot: Callable[[], list[dict[str, Any]]] | None) -> None:
        self._metrics = metrics
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self._metrics.combined()
        requests = CounterMetricFamily(
            "gemini_proxy_requests",
            "Client requests by surface, model and HTTP status.",
            labels=("surface", "model", "status"),
        )
        for labels, value in m.requests.items():
            requests.add_metric(labels, value)
        yield requests
        latency = HistogramMetricFamily(
            "gemini_proxy_request_duration_seconds",
            "Time until the answer starts (a stream's first byte), by surface, model and status.",
            labels=("surface", "model", "status"),
        )
        for series, buckets in m.latency.items():
            cumulative, running = [], 0.0
            for bound, count in zip((*map(str, _LATENCY_BUCKETS), "+Inf"), buckets[:-1], strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric(series, cumulative, buckets[-1])
        yield latency
        attempts = CounterMetricFamily(
            "gemini_proxy_upstream_attempts",
            "Requests sent to Gemini by outcome (ok, rate_limited, rate_limited_daily, invalid_key, transient, "
            "client_error).",
            labels=("outcome",),
        )
        for outcome, value in m.attempts.items():
            attempts.add_metric((outcome,), value)
        yield attempts
        tokens = CounterMetricFamily(
            "gemini_proxy_tokens",
            "Tokens Gemini counted for the answers served, by model and direction (in: the prompt; out: "
            "candidates and thoughts), every surface and stream.",
            labels=("model", "direction"),
        )
        for token_labels, value in m.tokens.items():
            tokens.add_metric(token_labels, value)
        yield tokens
        client_requests = CounterMetricFamily(
            "gemini_proxy_client_requests",
            "Requests by client, model and outcome (ok: answered, error: a 4xx or 5xx).",
            labels=("client", "model", "outcome"),
        )
        client_tokens = CounterMetricFamily(
            "gemini_proxy_client_tokens",
            "Tokens by client, model and kind (input, output, thinking), as Gemini counted them.",
            labels=("client", "model", "kind"),
        )
        for (client, model, what), value in m.clients.items():
            if what == "requests" or what == "errors":
                client_requests.add_metric((client, model, "ok" if what == "requests" else "error"), value)
            else:
                client_tokens.add_metric((client, model, what.removesuffix("_tokens")), value)
        yield client_requests
        yield client_tokens
        jobs = CounterMetricFamily(
            "gemini_proxy_agent_jobs", "Agent jobs ended, by agent and final status.", labels=("agent", "status")
        )
        for job_labels, value in m.jobs.items():
            jobs.add_metric(job_labels, value)
        yield jobs
        wait = HistogramMetricFamily(
            "gemini_proxy_upstream_connection_wait_seconds",
            "Time requests waited for a connection to Gemini (only those that found all "
            "GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS busy).",
        )
        cumulative_wait, waited = [], 0.0
        for bound, count in zip((*map(str, _WAIT_BUCKETS), "+Inf"), m.connection_wait[:-1], strict=True):
            waited += count
            cumulative_wait.append((bound, waited))
        wait.add_metric((), cumulative_wait, m.connection_wait[-1])
        yield wait
        if m.upstream_connections is not None:
            open_now, idle_now, waiting_now = m.upstream_connections()
            connections = GaugeMetricFamily(
                "gemini_proxy_upstream_connections",
                "Connections to Gemini in this process, by state (busy, idle), and requests waiting for one.",
                labels=("state",),
            )
            connections.add_metric(("busy",), open_now - idle_now)
            connections.add_metric(("idle",), idle_now)
            connections.add_metric(("waiting",), waiting_now)
            yield connections
        if m.jobs_running is not None:
            yield GaugeMetricFamily(
                "gemini_proxy_agent_jobs_running", "Agent jobs running in this process.", value=m.jobs_running()
            )
        if self._snapshot is not None:
            states = GaugeMetricFamily(
                "gemini_proxy_key_state", "1 for the state each key is in (by short id).", labels=("key", "state")
            )
            for entry in self._snapshot():
                state = str(entry.get("state", "active"))
                for name in _KEY_STATES:
                    states.add_metric((str(entry.get("key", "?")), name), 1.0 if name == state else 0.0)
            yield states


# A credential in a query string (`?key=...`, as Google's clients send it, `&access_token=...`): its
# value never reaches a log line. uvicorn's access log prints the full path with its query.
_CREDENTIAL_IN_QUERY = re.compile(
    r"(?i)([?&;](?:key|api[_-]?key|access[_-]?token|token|auth|password|secret|client[_-]?secret)=)[^&;#\s\"']*"
)


def redact(text: str) -> str:
    """``text`` with the value of every credential query parameter replaced by ``***``."""
    return _CREDENTIAL_IN_QUERY.sub(r"\1***", text) if "=" in text else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's id (``request_id``,
    when the line is written while serving one) and its client's name (``client``), and any
    ``extra`` fields; credentials in query strings (the access log's paths) are redacted from the
    message and string fields."""

    # Record attributes that are not extra fields (uvicorn's color_message repeats the message with ANSI codes).
    _standard = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "asctime",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        serving = request_id.get()
        if serving is not None:
            entry["request_id"] = serving
        client = client_name.get()
        if client is not None:
            entry["client"] = client
        for key, value in record.__dict__.items():
            if key not in self._standard:
                entry[key] = redact(value) if isinstance(value, str) else value
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
