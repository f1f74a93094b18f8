"""Watching a settings file (keys, agents) and taking its changes while the proxy runs.

``FileWatcher`` polls the file's (mtime, size) every ``interval`` seconds. On a change it calls
``load(path)`` and hands the result to ``apply``. A file that vanishes or fails to load leaves the
last good settings in force (logged, with the loader's one-line reason), so an editor's
save-by-rename or a half-written file never empties a pool or drops an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("gemini_proxy")

T = TypeVar("T")

__all__ = ["FileWatcher"]


class FileWatcher(Generic[T]):
    """``start()`` launches the polling task; ``check()`` polls once; ``close()`` stops it.
    ``what`` names the file in logs ("keys file"); ``load`` raises ``OSError``, ``ValueError``
    or ``UnicodeDecodeError`` (with a message that never quotes a secret) for a bad file."""

    def __init__(
        self, path: Path, load: Callable[[Path], T], apply: Callable[[T], None], *, what: str, interval: float = 2.0
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self._load = load
        self._apply = apply
        self._what = what
        self._stamp = self._stat()
        self._task: asyncio.Task[None] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def check(self) -> bool:
        """Poll once; load and apply the file if it changed. True if new settings were applied."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        if stamp is None:
            log.warning("%s %s disappeared; keeping the current settings", self._what, self.path)
            self._stamp = None
            return False
        try:
            loaded = self._load(self.path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.warning("%s %s could not be loaded (%s); keeping the last good one", self._what, self.path, exc)
            self._stamp = stamp
            return False
        if self._stat() != stamp:  # written to while we read it: take it on the next poll
            return False
        self._stamp = stamp
        self._apply(loaded)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # the watcher must never die: log and keep polling
                log.exception("%s watcher failed", self._what)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self._what} watcher")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
