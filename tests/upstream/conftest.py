"""Fixtures for the key pool tests: a fake clock and fake keys (never real-looking secrets)."""

from __future__ import annotations

import pytest

from gemini_proxy.upstream.keys import ApiKey

# 2026-03-07 12:00:00 America/Los_Angeles (PST, UTC-8)
T0 = 1772913600.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def fake_keys(n: int, **attrs: str) -> list[ApiKey]:
    return [ApiKey(f"test-key-{i}-secretpart", **attrs) for i in range(1, n + 1)]
