"""The MCP server's tools (``api/mcp.py`` has the endpoint): their arguments, results and what they call.

Imported on the first MCP request only: the ``mcp`` SDK takes about a second and 30 MB to import,
which every proxy that never serves MCP would otherwise pay at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from gemini_proxy import __version__
from gemini_proxy.agents.jobs import MAX_WAIT, job_id_for, job_view, parse_delegate
from gemini_proxy.api import simple
from gemini_proxy.api.auth import client_of
from gemini_proxy.clients import ANON, Client
from gemini_proxy.errors import ProxyError
from gemini_proxy.observability import client_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from gemini_proxy.api.common import Services
    from gemini_proxy.state.jobs import Job

__all__ = ["build_server"]

PROGRESS_EVERY = 1.0  # seconds between progress notifications while ``delegate`` waits

INSTRUCTIONS = (
    "Gemini agents on a pool of Gemini API keys. Use `delegate` to hand a task (and optional context) to a named "
    "agent (`list_agents` shows them); pass `wait` to get the result in the same call, or poll `job_status`. "
    "`ask_gemini` answers one prompt at once."
)


class Usage(BaseModel):
    """Gemini's ``usageMetadata``, exactly."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None


class AgentInfo(BaseModel):
    model_config = ConfigDict(extra="allow")  # the agent's settings (temperature, thinking...) when set

    name: str
    description: str
    model: str
    source: str


class Agents(BaseModel):
    agents: list[AgentInfo]


class JobInfo(BaseModel):
    """A job as ``GET /api/agents/status/{id}`` shows it, without the task and context it was given."""

    id: str
    agent: str
    model: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    text: str | None = Field(None, description="the agent's answer, once the job has succeeded")
    finish_reason: str | None = None
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    attempts: int
    created_at: float | None
    finished_at: float | None
    status_url: str


class Answer(BaseModel):
    text: str
    model: str
    finish_reason: str | None
    usage: Usage


def _job_info(job: Job) -> JobInfo:
    view = job_view(job)
    raw = view.get("result")
    result: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return JobInfo(
        id=view["id"],
        agent=view["agent"],
        model=view["model"],
        status=view["status"],
        text=result.get("text"),
        finish_reason=result.get("finish_reason"),
        usage=view.get("usage"),
        error=view.get("error"),
        attempts=view["attempts"],
        created_at=view["created_at"],
        finished_at=view["finished_at"],
        status_url=view["status_url"],
    )


def _result(info: BaseModel, text: str | None = None) -> CallToolResult:
    structured = info.model_dump(mode="json")
    shown = text if text is not None else orjson.dumps(structured, option=orjson.OPT_INDENT_2).decode()
    return CallToolResult(content=[TextContent(type="text", text=shown)], structured_content=structured)


def _job_result(job: Job) -> CallToolResult:
    info = _job_info(job)
    return _result(info, info.text if info.status == "succeeded" and info.text is not None else None)


def _client(ctx: Context) -> Client:
    """The client of the HTTP request carrying this tool call (``ProxyApp`` resolved its token):
    jobs are the caller's own, as over REST. No HTTP request: ``anon``, who owns nothing of a
    client's."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    return client_of(scope) if isinstance(scope, dict) else ANON


def build_server(services: Callable[[], Services], *, host: str, max_body: int) -> StreamableHTTPSessionManager:
    """The MCP server with its tools, as the SDK's session manager (stateless: no session lives in
    one process). ``services()`` gives the app's services at call time."""
    server: MCPServer = MCPServer("gemini-proxy", instructions=INSTRUCTIONS, version=__version__)
    _Tools(server, services)
    # Builds the session manager; the Starlette app it returns is not used: the route calls the
    # manager directly, behind ProxyApp's client tokens.
    server.streamable_http_app(stateless_http=True, max_request_body_size=max_body, host=host)
    return server.session_manager


class _Tools:
    def __init__(self, server: MCPServer, services: Callable[[], Services]) -> None:
        self._svc = services
        self._add_tools(server)

    @contextlib.contextmanager
    def _call(self, model: str | None = None) -> Iterator[list[str]]:
        """One tool call: counted in the metrics (surface ``mcp``, the model it used, the status it
        would have had over HTTP), and the proxy's errors (a bad argument, an unknown job, a spent
        pool) turned into tool errors whose message says which argument and why, so that the
        calling agent can read it and correct itself. The caller may set ``served[0]``, the model."""
        started = time.perf_counter()
        served = [model or ""]
        try:
            yield served
        except ProxyError as exc:
            self._svc().metrics.observe_request(
                "mcp", served[0], exc.status, time.perf_counter() - started, client_name.get()
            )
            where = f" (argument '{exc.param}')" if exc.param else ""
            raise ToolError(f"{exc.message}{where}") from None
        self._svc().metrics.observe_request("mcp", served[0], 200, time.perf_counter() - started, client_name.get())

    def _add_tools(self, server: MCPServer) -> None:
        read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

        @server.tool(description="The Gemini agents that `delegate` can hand a task to.", annotations=read_only)
        async def list_agents() -> Agents:
            svc = self._svc()
            return Agents(agents=[AgentInfo(**a.describe(svc.settings.default_model)) for a in svc.agents.registry])

        @server.tool(
            description=(
                "Hand a task to a Gemini agent. Returns the job; with `wait` > 0, waits up to that many seconds "
                "(at most 300) and returns the agent's answer if the job ends by then. Poll `job_status` otherwise."
            ),
        )
        async def delegate(
            agent: Annotated[str, Field(description="the agent's name (see list_agents)")],
            task: Annotated[str, Field(description="what the agent should do")],
            ctx: Context,
            context: Annotated[
                str | dict[str, Any] | list[Any] | None,
                Field(description="text or JSON the agent reads before the task"),
            ] = None,
            model: Annotated[str | None, Field(description="a Gemini model instead of the agent's own")] = None,
            wait: Annotated[float, Field(ge=0, le=MAX_WAIT, description="seconds to wait for the result")] = 0,
        ) -> Annotated[CallToolResult, JobInfo]:
            svc = self._svc()
            body: dict[str, Any] = {"agent": agent, "task": task, "context": context, "model": model, "wait": wait}
            client = _client(ctx)
            with self._call(model) as served:
                delegation = parse_delegate(
                    {k: v for k, v in body.items() if v is not None},
                    svc.agents.registry,
                    aliases=svc.aliases,
                    default_model=svc.settings.default_model,
                    limit=svc.agents.context_limit(client),
                )
                served[0] = delegation.model
                job, _ = await svc.agents.delegate(job_id_for(None, ""), delegation, client)
                if delegation.wait > 0:
                    job = await self._wait(svc, job, delegation.wait, ctx)
            return _job_result(job)

        @server.tool(
            description="A delegated job: its status, and the answer once it has succeeded.", annotations=read_only
        )
        async def job_status(
            job_id: Annotated[str, Field(min_length=1, max_length=64, description="the id `delegate` returned")],
            ctx: Context,
        ) -> Annotated[CallToolResult, JobInfo]:
            with self._call():
                return _job_result(await self._svc().agents.get(job_id, _client(ctx)))

        @server.tool(
            description="Cancel a queued or running job.",
            annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True, open_world_hint=False),
        )
        async def cancel_job(
            job_id: Annotated[str, Field(min_length=1, max_length=64, description="the id `delegate` returned")],
            ctx: Context,
        ) -> Annotated[CallToolResult, JobInfo]:
            with self._call():
                return _job_result(await self._svc().agents.cancel(job_id, _client(ctx)))

        @server.tool(description="Ask Gemini one question and get the answer now (no agent, no job).")
        async def ask_gemini(
            prompt: Annotated[str, Field(min_length=1, description="the question or instruction")],
            system: Annotated[str | None, Field(description="system instructions")] = None,
            model: Annotated[str | None, Field(description="a Gemini model (default: the proxy's)")] = None,
        ) -> Annotated[CallToolResult, Answer]:
            svc = self._svc()
            body = {"prompt": prompt, "system": system, "model": model}
            with self._call(model) as served:
                call = await simple.prepare(svc, {k: v for k, v in body.items() if v is not None})
                served[0] = call.model
                reply = Answer(**await simple.answer(svc, call))
            return _result(reply, reply.text)

    async def _wait(self, svc: Services, job: Job, seconds: float, ctx: Context) -> Job:
        """``Agents.wait`` in steps, with a progress notification after each (when asked for)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not job.finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            job = await svc.agents.wait(job, min(remaining, PROGRESS_EVERY))
            if not job.finished:
                elapsed = seconds - max(0.0, deadline - loop.time())
                await ctx.report_progress(elapsed, seconds, f"job {job.id} is {job.status}")
        return job
