"""Operations: ``/health``, ``/api/system/status`` and ``/metrics``."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy import __version__
from gemini_proxy.api.common import json_response, render_simple, services, surface
from gemini_proxy.errors import ServiceUnavailable


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
    svc = services(request)
    try:
        jobs: dict[str, int] | None = await svc.agents.counts()
    except ServiceUnavailable:  # the job store is down: the rest of the status still answers
        jobs = None
    return json_response(
        {
            "version": __version__,
            "uptime_seconds": round(time.time() - svc.metrics.started, 3),
            "requests": dict(svc.metrics.totals),
            "keys": svc.pool.snapshot(),
            "agent_jobs": {"by_status": jobs, "running_here": svc.agents.runner.running},
        }
    )


@surface(render_simple, None)
async def metrics(request: Request) -> Response:
    return Response(services(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/api/system/status", status, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
