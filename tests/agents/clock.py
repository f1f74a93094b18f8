"""A ``Clock`` for the agent tests that moves only when the test says so (``advance``)."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from gemini_proxy.agents.clock import Clock

T0 = 1_772_913_600.0  # 2026-03-07 20:00 UTC


async def idle(rounds: int = 50) -> None:
    """Lets every task that can run do so (the stores here do no I/O): no time passes."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeClock(Clock):
    __slots__ = ("now", "_sleepers", "_timeouts")

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._timeouts: list[_FakeTimeout] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        self._ring()
        await future

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        if event.is_set():
            return
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.sleep(timeout))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)

    def timeout(self, seconds: float) -> _FakeTimeout:
        return _FakeTimeout(self, self.now + seconds)

    async def advance(self, seconds: float) -> None:
        """Moves time on, wakes what was waiting for it, and lets everything run."""
        await idle()
        self.now += seconds
        self._ring()
        await idle()

    def _ring(self) -> None:
        due = [(at, f) for at, f in self._sleepers if at <= self.now or f.done()]
        self._sleepers = [(at, f) for at, f in self._sleepers if (at, f) not in due]
        for _, future in due:
            if not future.done():
                future.set_result(None)
        for timeout in list(self._timeouts):
            timeout.check()


class _FakeTimeout:
    """``asyncio.timeout`` whose deadline is on the fake clock."""

    def __init__(self, clock: FakeClock, when: float) -> None:
        self._clock = clock
        self._when = when
        self._inner = asyncio.timeout(None)

    async def __aenter__(self) -> _FakeTimeout:
        await self._inner.__aenter__()
        self._clock._timeouts.append(self)
        self.check()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        with contextlib.suppress(ValueError):
            self._clock._timeouts.remove(self)
        return await self._inner.__aexit__(kind, exc, tb)

    def check(self) -> None:
        if self._clock.now >= self._when:
            with contextlib.suppress(ValueError):
                self._clock._timeouts.remove(self)
            self._inner.reschedule(asyncio.get_running_loop().time())
