"""Per-client limits: requests and tokens per minute, tokens per day, requests at once.

``ClientLimiter.admit(client)`` is asked once per request (``api/asgi.py``, after the client is
known) and either admits it (counting it, until ``release``) or says how many seconds to wait
and which limit. ``spend(name, tokens)`` counts the tokens of an answer (the gateway reports
Gemini's exact ``usageMetadata``), so a client over its ``tpm`` or ``tokens_per_day`` is refused
from its next request on: the request that crosses a token limit is answered in full.

Windows are fixed and on the wall clock, so that processes agree on them: the minute
in buckets of 10 s (``epoch // 10``), and the UTC day. A minute limit looks at the last 60 s: the
buckets inside them, and the bucket leaving them weighted by the part of it still inside, so the
minute slides (to within a bucket's share) and a client cannot spend twice its limit across a
boundary. A request is admitted while it keeps the minute's requests within ``rpm``; a token
limit refuses once the tokens already spent reach it.

Shared through the state store (``sync_once``, every ``interval`` seconds, by ``run``): each
process adds what it counted since its last sync to the store's windows and reads back every
process's totals (``StateStore.add_counts``); requests in flight are reported per process and
summed (``share_gauges``). Between syncs a process adds its own new counts to the last totals it
read, so N workers or replicas may together admit up to N x ``interval`` seconds' worth of a
client's requests past a limit before they all see it. When the store cannot be reached each
process goes on with its own counts (one warning, one line when it is back).

A client without limits is not tracked at all. What is held is bounded: per limited client a
few numbers and the counts not yet synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable

from gemini_proxy.clients import Client
from gemini_proxy.state.base import StateStore

__all__ = ["MINUTE", "ClientLimiter"]

log = logging.getLogger("gemini_proxy")

MINUTE = 60
BUCKET = 10  # seconds: how finely the last minute is counted
DAY = 86400
BUSY_RETRY = 1.0  # Retry-After for a client at its concurrency limit: a request in flight may end any time
GAUGE_TTL = 5.0  # a process that has not reported its requests in flight for this long is gone


class _Window:
    """One counter (requests or tokens) over the last ``span`` seconds, kept in fixed buckets of
    ``bucket`` seconds: every process's totals per bucket as of the last sync (``shared``), plus
    what this process counted since (``unsent``, per bucket, until a sync has sent it). The
    estimate counts the buckets inside the span in full and the one leaving it in proportion to
    what of it is still inside (accurate to a bucket's share). At most ``span / bucket + 2``
    buckets are held."""

    __slots__ = ("bucket", "shared", "span", "unsent")

    def __init__(self, span: int, bucket: int) -> None:
        self.span, self.bucket = span, bucket
        self.shared: dict[int, int] = {}
        self.unsent: dict[int, int] = {}

    def add(self, now: float, n: int) -> None:
        index = int(now // self.bucket)
        if index not in self.unsent:
            self.forget(index)
        self.unsent[index] = self.unsent.get(index, 0) + n

    def forget(self, index: int) -> None:
        """Drops the buckets that have left the span that ends in bucket ``index``."""
        oldest = index - self.span // self.bucket
        for counts in (self.shared, self.unsent):
            for old in [i for i in counts if i < oldest]:
                del counts[old]

    def _at(self, t: float) -> float:
        """The estimate at ``t`` (not before now) if nothing more is counted."""
        index = int(t // self.bucket)
        inside = self.span // self.bucket  # buckets fully inside, the current one included
        leaving = 1.0 - (t % self.bucket) / self.bucket
        total = 0.0
        for counts in (self.shared, self.unsent):
            for i, n in counts.items():
                if index - inside < i <= index:
                    total += n
                elif i == index - inside:
                    total += n * leaving
        return total

    def estimate(self, now: float) -> float:
        return self._at(now)

    def over(self, now: float, threshold: float) -> bool:
        """Whether the estimate is over ``threshold``. Most checks end at the first test: the
        counts held (none negative) add up to at most ``threshold``, so the estimate does too."""
        if sum(self.shared.values()) + sum(self.unsent.values()) <= threshold:
            return False
        return self._at(now) > threshold

    def current(self, now: float) -> int:
        """The count of the bucket that holds ``now``."""
        index = int(now // self.bucket)
        return self.shared.get(index, 0) + self.unsent.get(index, 0)

    def wait(self, now: float, threshold: float) -> float:
        """Seconds until the estimate is at most ``threshold``, if nothing more is counted."""
        index = int(now // self.bucket)
        for step in range(self.span // self.bucket + 2):
            start = max(now, (index + step) * self.bucket)
            end = (index + step + 1) * self.bucket
            if self._at(start) <= threshold:
                return max(start - now, 0.001)
            low = self._at(end - 1e-9)
            if low <= threshold:  # it fades below within this bucket, linearly
                high = self._at(start)
                return max(start + (high - threshold) / (high - low) * (end - start) - now, 0.001)
        return float(self.span + self.bucket)


class _Usage:
    """What the limiter knows of one limited client."""

    __slots__ = ("day_tokens", "in_flight", "others_in_flight", "requests", "tokens")

    def __init__(self) -> None:
        self.in_flight = 0
        self.others_in_flight = 0  # every other process's, as of the last sync
        self.requests = _Window(MINUTE, BUCKET)
        self.tokens = _Window(MINUTE, BUCKET)
        self.day_tokens = _Window(DAY, DAY)


class ClientLimiter:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        store: StateStore | None = None,
        interval: float = 0.25,
    ) -> None:
        self._clock = clock
        self.store = store
        self.interval = interval
        self.member = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._usage: dict[str, _Usage] = {}
        self._degraded = False
        # The configured clients (the app's registry): those with limits are synced from the
        # start, so that a process knows the others' counts before its first request of a client.
        self.clients: Callable[[], Iterable[Client]] = tuple

    @staticmethod
    def limits(client: Client) -> bool:
        return (
            client.rpm is not None
            or client.max_concurrency is not None
            or client.tpm is not None
            or client.tokens_per_day is not None
        )

    def _of(self, name: str) -> _Usage:
        usage = self._usage.get(name)
        if usage is None:
            usage = self._usage[name] = _Usage()
        return usage

    def admit(self, client: Client) -> tuple[float, str] | None:
        """None: admitted (``release`` it when it ends). Else (seconds to wait, which limit)."""
        usage = self._of(client.name)
        now = self._clock()
        if client.max_concurrency is not None and usage.in_flight + usage.others_in_flight >= client.max_concurrency:
            return BUSY_RETRY, f"{client.max_concurrency} requests at once"
        if client.tokens_per_day is not None:
            if usage.day_tokens.current(now) >= client.tokens_per_day:
                return max(DAY - now % DAY, 0.001), f"{client.tokens_per_day} tokens per day"
        if client.tpm is not None:
            if usage.tokens.over(now, client.tpm - 1):
                return usage.tokens.wait(now, client.tpm - 1), f"{client.tpm} tokens per minute"
        if client.rpm is not None and usage.requests.over(now, client.rpm - 1):
            # admitted only while this request keeps the minute within rpm
            return usage.requests.wait(now, client.rpm - 1), f"{client.rpm} requests per minute"
        usage.requests.add(now, 1)  # counted for every limited client: the status API shows it
        usage.in_flight += 1
        return None

    def release(self, client: Client) -> None:
        usage = self._usage.get(client.name)
        if usage is not None and usage.in_flight > 0:
            usage.in_flight -= 1

    def spend(self, name: str, tokens: int) -> None:
        """An answer to client ``name`` used ``tokens`` (Gemini's count): only limited clients are tracked."""
        usage = self._usage.get(name)
        if usage is None or tokens <= 0:
            return
        now = self._clock()
        usage.tokens.add(now, tokens)
        usage.day_tokens.add(now, tokens)

    def in_flight(self, name: str) -> int:
        usage = self._usage.get(name)
        return usage.in_flight if usage is not None else 0

    def view(self, name: str) -> dict[str, int]:
        """The counts a limit of client ``name`` is checked against now (for the status API)."""
        usage = self._usage.get(name)
        if usage is None:
            return {}
        now = self._clock()
        return {
            "in_flight": usage.in_flight + usage.others_in_flight,
            "requests_last_minute": round(usage.requests.estimate(now)),
            "tokens_last_minute": round(usage.tokens.estimate(now)),
            "tokens_today": usage.day_tokens.current(now),
        }

    # -- sharing through the state store ---------------------------------------------------------
    async def sync_once(self) -> None:
        store = self.store
        if store is None:
            return
        for client in self.clients():
            if self.limits(client):
                self._of(client.name)
        if not self._usage:
            return
        try:
            await self._exchange(store)
        except Exception as exc:
            if not self._degraded:
                self._degraded = True
                log.warning("client limits: state store unreachable (%s); each process counts alone", exc)
            return
        if self._degraded:
            self._degraded = False
            log.info("client limits: state store reachable again")

    async def _exchange(self, store: StateStore) -> None:
        for namespace, attribute, ttl in (
            ("climit-req", "requests", 3 * MINUTE),
            ("climit-tok", "tokens", 3 * MINUTE),
            ("climit-day", "day_tokens", 2 * DAY),
        ):
            windows: dict[str, _Window] = {name: getattr(usage, attribute) for name, usage in self._usage.items()}
            sent: dict[int, dict[str, int]] = {}
            for name, window in windows.items():
                for index, n in window.unsent.items():
                    sent.setdefault(index, {})[name] = n
            first = next(iter(windows.values()))
            index = max([int(self._clock() // first.bucket), *sent])
            read = range(index - first.span // first.bucket, index + 1)
            totals = await store.add_counts(namespace, sent, read=read, ttl=ttl)
            # Counted meanwhile (during the exchange) stays unsent, on top of the totals read.
            for name, window in windows.items():
                for i, counts in sent.items():
                    left = window.unsent.get(i, 0) - counts.get(name, 0)
                    if left > 0:
                        window.unsent[i] = left
                    else:
                        window.unsent.pop(i, None)
                window.shared = {i: n for i, got in totals.items() if (n := got.get(name, 0))}
                window.forget(index)
        own = {name: usage.in_flight for name, usage in self._usage.items()}
        everyone = await store.share_gauges("climit-flight", self.member, own, ttl=GAUGE_TTL)
        for name, usage in self._usage.items():
            usage.others_in_flight = max(everyone.get(name, 0) - own[name], 0)

    async def run(self) -> None:
        """Syncs every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(Exception):
                await self.sync_once()
