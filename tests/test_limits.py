"""Per-client limits in one process: requests per minute (a sliding minute, on an injected clock)
and requests at once."""

from __future__ import annotations

from gemini_proxy.clients import Client
from gemini_proxy.limits import ClientLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rpm_is_a_sliding_minute_per_client() -> None:
    clock = Clock()
    limiter = ClientLimiter(clock)
    alice, bob = Client("alice", rpm=2), Client("bob", rpm=2)
    assert limiter.admit(alice) is None
    clock.now += 20
    assert limiter.admit(alice) is None
    refused = limiter.admit(alice)
    assert refused is not None and refused[0] == 40.0 and "2 requests per minute" in refused[1]
    assert limiter.admit(bob) is None  # bob has a minute of his own
    clock.now += 40  # the first request leaves the window
    assert limiter.admit(alice) is None
    assert limiter.admit(alice) is not None


def test_concurrency_counts_requests_in_flight() -> None:
    limiter = ClientLimiter(Clock())
    alice = Client("alice", max_concurrency=2)
    assert limiter.admit(alice) is None and limiter.admit(alice) is None
    refused = limiter.admit(alice)
    assert refused is not None and refused[0] == 1.0 and "2 requests at once" in refused[1]
    limiter.release(alice)
    assert limiter.in_flight("alice") == 1
    assert limiter.admit(alice) is None
    limiter.release(alice)
    limiter.release(alice)
    assert limiter.in_flight("alice") == 0


def test_a_refusal_for_concurrency_spends_nothing_of_the_minute() -> None:
    limiter = ClientLimiter(Clock())
    alice = Client("alice", rpm=2, max_concurrency=1)
    assert limiter.admit(alice) is None
    assert limiter.admit(alice) is not None  # busy: not counted in the minute
    limiter.release(alice)
    assert limiter.admit(alice) is None  # the second of the minute
    limiter.release(alice)
    assert limiter.admit(alice) is not None  # the minute's two are spent
