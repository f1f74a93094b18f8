"""Cancel a request's work when its client goes away before the answer is complete.

uvicorn neither cancels the handler nor fails ``send`` when a client disconnects: it only tells
``receive``. Without this, a client that gives up during a long generation (or before a
stream's first chunk) would leave the Gemini request running and its key busy. Once the
endpoint has read the request body, a watcher waits on ``receive``; a disconnect before the
answer is complete cancels the endpoint's task, which cancels the upstream call (the gateway
then releases the key without blaming it). ``SurfaceEndpoint`` (``common.py``) stops the watch
when the answer has been sent.

Only long requests need watching, and a task per request costs more CPU than the rest of the
proxy's own code: the watcher starts ``WATCH_AFTER`` seconds after the body was read, so a
short request only arms and disarms a timer, and a disconnect is noticed within that delay.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive

from gemini_proxy.errors import PayloadTooLarge, RequestTimeout

WATCH_AFTER = 0.5  # seconds


class DisconnectWatch:
    """Use ``receive`` in place of the server's, in the task that made the watch (its body timer
    cancels that task): the watch begins once the body has been read. As the one place that sees
    the body arrive, it also refuses a body over ``max_body`` bytes (``PayloadTooLarge``, 413)
    before it is all in memory, and a client that stops sending its body for ``body_timeout``
    seconds (``RequestTimeout``, 408)."""

    __slots__ = (
        "_loop", "_receive", "_max_body", "_body_timeout", "_size", "_task", "_timer", "_watcher", "cancelled_task",
        "done", "_late",
    )  # fmt: skip

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Receive, max_body: int, body_timeout: float = 60.0
    ) -> None:
        self._loop = loop
        self._receive = receive
        self._max_body = max_body
        self._body_timeout = body_timeout
        self._size = 0
        self._task = asyncio.current_task(loop)  # with the loop given, no lookup of the running loop
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.cancelled_task = False
        self.done = False
        self._late = False  # the body timer fired and cancelled the task

    async def receive(self) -> Message:
        # A timer that cancels the task rather than asyncio.timeout: the same, for a third of its
        # cost (the body is usually there already, and the timer is armed and cancelled unused).
        late = self._loop.call_later(self._body_timeout, self._body_late)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self._late and self._task is not None:
                self._late = False
                if self._task.uncancel() == 0:  # no other cancellation pending: it was the timer's
                    raise RequestTimeout(
                        f"The request body did not arrive: nothing for {self._body_timeout:g} s "
                        "(GEMINI_PROXY_BODY_TIMEOUT).",
                        param="body",
                    ) from None
            raise
        finally:
            late.cancel()
        if message["type"] == "http.request":
            self._size += len(message.get("body", b""))
            if self._size > self._max_body:
                raise PayloadTooLarge(
                    f"The request body is larger than {self._max_body} bytes (GEMINI_PROXY_MAX_REQUEST_BYTES).",
                    param="body",
                )
            if not message.get("more_body", False) and self._timer is None and not self.done:
                self._timer = self._loop.call_later(WATCH_AFTER, self._begin)
        return message

    def _body_late(self) -> None:
        if self._task is not None and not self.done:
            self._late = True
            self._task.cancel()

    def _begin(self) -> None:
        if not self.done:
            self._watcher = self._loop.create_task(self._run())

    def stop(self) -> None:
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    def uncancel(self) -> None:
        """Takes back the cancellation this watch caused (the request ends quietly)."""
        if self._task is not None:
            self._task.uncancel()

    async def _run(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._watcher = None
        if self._task is not None and not self.done:
            self.cancelled_task = True
            self._task.cancel()
