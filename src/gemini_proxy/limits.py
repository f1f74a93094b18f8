"""Per-client limits, in this process's memory: requests per minute and requests at once.

``ClientLimiter.admit(client)`` is asked once per request (``api/asgi.py``, after the client is
known) and either admits it (counting it in the client's minute and in its requests in flight,
until ``release``) or says how many seconds to wait. A client without ``rpm`` and
``max_concurrency`` costs two attribute reads. What is held is bounded: per client, at most
``rpm`` timestamps and one counter.

Not yet shared between workers or replicas (issue 15 asks for it through the state store): with
``--workers N`` each worker admits a client's ``rpm`` on its own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from gemini_proxy.clients import Client

__all__ = ["WINDOW", "ClientLimiter"]

WINDOW = 60.0  # seconds of the requests-per-minute window (sliding)
BUSY_RETRY = 1.0  # Retry-After for a client at its concurrency limit: a request in flight may end any time


class ClientLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}

    @staticmethod
    def limits(client: Client) -> bool:
        return client.rpm is not None or client.max_concurrency is not None

    def admit(self, client: Client) -> tuple[float, str] | None:
        """None: admitted (``release`` it when it ends). Else (seconds to wait, which limit)."""
        busy = self._in_flight.get(client.name, 0)
        if client.max_concurrency is not None and busy >= client.max_concurrency:
            return BUSY_RETRY, f"{client.max_concurrency} requests at once"
        if client.rpm is not None:
            now = self._clock()
            recent = self._recent.get(client.name)
            if recent is None:
                recent = self._recent[client.name] = deque()
            while recent and recent[0] <= now - WINDOW:
                recent.popleft()
            while len(recent) > client.rpm:  # the limit was lowered: keep what the new one needs
                recent.popleft()
            if len(recent) >= client.rpm:
                return max(recent[0] + WINDOW - now, 0.001), f"{client.rpm} requests per minute"
            recent.append(now)
        self._in_flight[client.name] = busy + 1
        return None

    def release(self, client: Client) -> None:
        left = self._in_flight.get(client.name, 0) - 1
        if left > 0:
            self._in_flight[client.name] = left
        else:
            self._in_flight.pop(client.name, None)

    def in_flight(self, name: str) -> int:
        return self._in_flight.get(name, 0)
