"""The agent jobs' time: the wall clock, and waiting on it.

Jobs carry wall times (deadlines, leases, ``ready_at``) shared by every process of a deployment,
so the scheduler and the runner read and wait through one ``Clock``. Tests pass one that they
move by hand (``tests/agents/clock.py``) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AbstractAsyncContextManager

__all__ = ["Clock"]


class Clock:
    """``clock()`` is the wall time in seconds; ``sleep``, ``wait`` and ``timeout`` wait on it."""

    __slots__ = ()

    def __call__(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Returns when ``event`` is set or after ``timeout`` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """Cancels the block after ``seconds`` and raises ``TimeoutError`` (``asyncio.timeout``)."""
        return asyncio.timeout(seconds)
