"""Cancel a request's work when its client goes away before the answer is complete.

uvicorn neither cancels the handler nor fails ``send`` when a client disconnects: it only tells
``receive``. Without this, a client that gives up during a long generation (or before a
stream's first chunk) would leave the Gemini request running and its key busy. Once the app
has read the request body, a watcher waits on ``receive``; a disconnect before the last body
message is sent cancels the handler task, which cancels the upstream call (the gateway then
releases the key without blaming it). The watcher stops as soon as the answer is complete.

Only long requests need watching, and a task per request costs more CPU than the rest of the
proxy's own code: the watcher starts ``WATCH_AFTER`` seconds after the body was read, so a
short request only arms and disarms a timer, and a disconnect is noticed within that delay.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gemini_proxy")

WATCH_AFTER = 0.5  # seconds


class CancelOnDisconnect:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        watch = _Watch(task, receive)

        async def receive_body() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                watch.start()
            return message

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                watch.stop()
            await send(message)

        try:
            await self.app(scope, receive_body, send_answer)
        except asyncio.CancelledError:
            if not watch.cancelled_task:
                raise
            task.uncancel()
            log.info("client disconnected; its request was cancelled", extra={"path": scope["path"]})
        finally:
            watch.stop()


class _Watch:
    __slots__ = ("_receive", "_task", "_timer", "_watcher", "cancelled_task", "done")

    def __init__(self, task: asyncio.Task[None], receive: Receive) -> None:
        self._task = task
        self._receive = receive
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.cancelled_task = False
        self.done = False

    def start(self) -> None:
        if self._timer is None and not self.done:
            self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._begin)

    def _begin(self) -> None:
        if not self.done:
            self._watcher = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def _run(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._watcher = None
        self.cancelled_task = True
        self._task.cancel()
