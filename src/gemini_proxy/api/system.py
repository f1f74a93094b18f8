"""Operations: ``/health``, ``/api/system/status`` and ``/metrics``."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy import __version__
from gemini_proxy.api.auth import client_of
from gemini_proxy.api.common import Services, json_response, render_simple, services, surface
from gemini_proxy.clients import ANON, Client
from gemini_proxy.errors import ServiceUnavailable
from gemini_proxy.observability import CLIENT_COUNTS


@surface(render_simple, None)
async def health(request: Request) -> Response:
    """Liveness and key availability, without calling the upstream."""
    svc = services(request)
    counts = svc.pool.counts()
    return json_response(
        {
            "status": "ok" if counts.get("available", 0) > 0 else "degraded",
            "version": __version__,
            "keys": {"configured": counts.get("configured", 0), "available": counts.get("available", 0)},
        }
    )


@surface(render_simple, "system")
async def status(request: Request) -> Response:
    """The numbers an operator looks at (the dashboard polls them). Keys by short id only.

    ``now`` is the server's clock (epoch seconds), so that a client counts cooldowns (``until``)
    down without trusting its own clock. ``requests`` and ``requests_by_surface`` are summed over
    the workers (each shares its counts every second; ``workers`` tells how many there are)."""
    svc = services(request)
    now = time.time()
    combined = svc.metrics.combined()  # with --workers N: the sum over the workers
    try:
        jobs: dict[str, int] | None = await svc.agents.counts()
    except ServiceUnavailable:  # the job store is down: the rest of the status still answers
        jobs = None
    return json_response(
        {
            "version": __version__,
            "now": round(now, 3),
            "uptime_seconds": round(now - svc.metrics.started, 3),
            "upstream": public_url(svc.settings.upstream_url),
            "workers": svc.settings.workers,
            "admin": bool(svc.settings.admin_token),
            "requests": dict(combined.totals),
            "requests_by_surface": combined.by_surface(),
            "counts": svc.pool.counts(),
            "keys": svc.pool.snapshot(),
            "agent_jobs": {"by_status": jobs, "running_here": svc.agents.runner.running},
            "clients": client_status(svc, client_of(request.scope)),
        },
        headers={"cache-control": "no-store"},
    )




def client_status(svc: Services, caller: Client) -> list[dict[str, Any]]:
    """Each client's limits, usage by model (every worker's) and what its limits are checked
    against now; a client sees only itself, the admin (or ``anon`` without tokens) every client."""
    usage = svc.metrics.client_usage()
    known = {c.name: c for c in svc.clients.clients()} if svc.clients is not None else {}
    if caller.admin or caller is ANON:
        names = sorted(set(known) | set(usage))
    else:
        names = [caller.name]
    out = []
    for name in names:
        client = known.get(name)
        by_model = usage.get(name, {})
        totals = dict.fromkeys(CLIENT_COUNTS, 0)
        for counts in by_model.values():
            for what, n in counts.items():
                totals[what] += n
        limits = {} if client is None else client.limits()
        entry: dict[str, Any] = {"name": name, "limits": limits, "usage": totals, "usage_by_model": by_model}
        if svc.limiter is not None and client is not None and svc.limiter.limits(client):
            entry["now"] = svc.limiter.view(name)
        out.append(entry)
    return out


def public_url(url: str) -> str:
    """``url`` without user:password, query or fragment: nothing in it that could be a credential."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@surface(render_simple, None)
async def metrics(request: Request) -> Response:
    return Response(services(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/api/system/status", status, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
