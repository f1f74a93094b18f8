"""Agent delegation: ``/api/agents...`` (the simple surface's error format).

* ``POST /api/agents/delegate``: queue a job (``agents/jobs.py`` has the body); 202 with the job,
  or with ``wait`` 200 once it has finished. ``Idempotency-Key`` makes a retried POST return the
  job it created the first time instead of a second job.
* ``GET /api/agents/status``: the agents, job counts and recent jobs
  (``?status=``, ``?agent=``, ``?limit=``; ``?id=`` gives one job, like the path form).
* ``GET /api/agents/status/{id}``: one job, with its task, result, usage and error.
* ``POST /api/agents/cancel/{id}``: cancel a queued or running job.
* ``GET /api/agents``: the agents.

A job belongs to the client that delegated it (``request.state.client``): another client gets
404 for it and never sees it listed; the admin token sees and cancels every job.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.agents.jobs import bad, job_id_for, job_view, parse_delegate
from gemini_proxy.api.auth import client_of
from gemini_proxy.api.common import Services, json_response, read_json_object, render_simple, services, surface
from gemini_proxy.errors import NotFound
from gemini_proxy.state.jobs import STATUSES

MAX_LIMIT = 100
LIST_PARAMS = frozenset({"id", "status", "agent", "limit"})


def _agents(svc: Services) -> list[dict[str, object]]:
    return [agent.describe(svc.settings.default_model) for agent in svc.agents.registry]


def _idempotency(request: Request) -> tuple[str | None, str]:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise bad(
            "Idempotency-Key", "The 'Idempotency-Key' header must be 1 to 255 characters.", "invalid_idempotency_key"
        )
    # Keys are scoped to the client (its name): two clients never meet each other's jobs by key.
    return key, client_of(request.scope).name


@surface(render_simple, "agents")
async def delegate(request: Request) -> Response:
    svc = services(request)
    client = client_of(request.scope)
    delegation = parse_delegate(
        await read_json_object(request),
        svc.agents.registry,
        aliases=svc.aliases,
        default_model=svc.settings.default_model,
        limit=svc.agents.context_limit(client),
    )
    request.state.model = delegation.model
    key, owner = _idempotency(request)
    job, created = await svc.agents.delegate(job_id_for(key, owner), delegation, client)
    if delegation.wait > 0:
        job = await svc.agents.wait(job, delegation.wait)
    view = job_view(job)
    headers = {"location": view["status_url"]}
    if not created:
        headers["idempotent-replayed"] = "true"
    return json_response(view, 200 if job.finished else 202, headers)


def _job_id(value: str) -> str:
    if not 1 <= len(value) <= 64:
        raise NotFound(f"No job with id {value[:64]!r}.", param="id", code="job_not_found")
    return value


@surface(render_simple, "agents")
async def status(request: Request) -> Response:
    svc = services(request)
    query = request.query_params
    unknown = sorted(set(query) - LIST_PARAMS)
    if unknown:
        raise bad(
            unknown[0], f"Unknown query parameter {unknown[0]!r}; expected {sorted(LIST_PARAMS)}.", "unknown_parameter"
        )
    if "id" in query:
        return json_response(job_view(await svc.agents.get(_job_id(query["id"]), client_of(request.scope))))
    wanted = query.get("status") or None
    if wanted is not None and wanted not in STATUSES:
        raise bad("status", f"'status' must be one of {', '.join(STATUSES)}; got {wanted!r}.")
    limit_text = query.get("limit", "20")
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise bad("limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}; got {limit_text!r}.")
    jobs = await svc.agents.recent(
        status=wanted, agent=query.get("agent") or None, limit=int(limit_text), client=client_of(request.scope)
    )
    return json_response(
        {
            "agents": _agents(svc),
            "counts": await svc.agents.counts(client_of(request.scope)),
            "running_here": svc.agents.runner.running,
            "jobs": [job_view(job, full=False) for job in jobs],
        }
    )


@surface(render_simple, "agents")
async def job_status(request: Request) -> Response:
    svc = services(request)
    return json_response(
        job_view(await svc.agents.get(_job_id(request.path_params["job_id"]), client_of(request.scope)))
    )


@surface(render_simple, "agents")
async def cancel(request: Request) -> Response:
    svc = services(request)
    job_id = _job_id(request.path_params["job_id"])
    return json_response(job_view(await svc.agents.cancel(job_id, client_of(request.scope))))


@surface(render_simple, "agents")
async def list_agents(request: Request) -> Response:
    return json_response({"agents": _agents(services(request))})


routes = [
    Route("/api/agents", list_agents, methods=["GET"]),
    Route("/api/agents/delegate", delegate, methods=["POST"]),
    Route("/api/agents/status", status, methods=["GET"]),
    Route("/api/agents/status/{job_id}", job_status, methods=["GET"]),
    Route("/api/agents/cancel/{job_id}", cancel, methods=["POST"]),
]
