"""Agent delegation as MCP tools: ``/mcp``, the Model Context Protocol's streamable HTTP transport.

Built on the official ``mcp`` SDK's ``MCPServer``. The tools are the REST API's (``agents.py``)
over the same ``Agents`` service, job store and runner, plus one direct question:

* ``list_agents``: the agents (built-ins and the agents file, as it is now).
* ``delegate``: queue a job; with ``wait`` (seconds, at most 300) the result once the job ends
  within it, else the job's id and status. While it waits, progress notifications go to a client
  that asked for them (a ``progressToken``).
* ``job_status`` and ``cancel_job``: one job, by id.
* ``ask_gemini``: one prompt (optional system text and model) answered at once through the pool,
  like ``POST /api/gemini/generate``.

Each result has a JSON Schema'd ``structuredContent`` and a text block: the answer's text for a
finished job or a question, the job as JSON otherwise. Usage is Gemini's exact ``usageMetadata``.

The server is stateless (the SDK's ``stateless_http``): every HTTP request stands alone, with no
session held in one process's memory, so any worker of ``--workers N`` and any replica answers
any request; jobs live in the job store. Client tokens are checked by ``ProxyApp`` before a
request reaches this module, like every other route. Bad arguments are tool errors (``isError``)
whose message names the argument, never a transport failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from gemini_proxy.api.common import Services

__all__ = ["McpEndpoint"]


class McpEndpoint:
    """``/mcp`` as an ASGI app for the router. The SDK is loaded, and its session manager started
    (it needs a task group of its own), on the first MCP request; ``close()`` stops it. The
    lifespan sets ``services``."""

    def __init__(self, *, host: str, max_body: int) -> None:
        self.services: Services | None = None
        self._host = host
        self._max_body = max_body
        self._manager: StreamableHTTPSessionManager | None = None
        self._starting: asyncio.Future[StreamableHTTPSessionManager] | None = None
        self._serving: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager or await self._start()
        await manager.handle_request(scope, receive, send)

    def _services(self) -> Services:
        assert self.services is not None, "the lifespan sets the services before serving"
        return self.services

    async def _start(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if self._starting is None:
            self._starting = loop.create_future()
            self._serving = loop.create_task(self._serve(self._starting), name="mcp-session-manager")
        return await asyncio.shield(self._starting)

    async def _serve(self, started: asyncio.Future[StreamableHTTPSessionManager]) -> None:
        try:
            # Imported in a thread: the event loop keeps serving the other surfaces meanwhile.
            tools = await asyncio.get_running_loop().run_in_executor(
                None, importlib.import_module, "gemini_proxy.api.mcp_tools"
            )
            manager = tools.build_server(self._services, host=self._host, max_body=self._max_body)
            async with manager.run():
                self._manager = manager
                started.set_result(manager)
                await asyncio.Event().wait()  # until close() cancels this task
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc if isinstance(exc, Exception) else RuntimeError("MCP server stopped"))
                self._starting = None  # the next request tries again
            raise

    async def close(self) -> None:
        task, self._serving = self._serving, None
        self._manager = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
