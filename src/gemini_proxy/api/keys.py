"""Admin routes under ``/api/keys``: list keys by short id, check them, enable or disable one.

Guarded by ``GEMINI_PROXY_ADMIN_TOKEN`` (``Authorization: Bearer <token>``); without that
setting the routes are off (404). Client tokens do not open them.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.common import (
    json_response,
    parse_json_object,
    read_body,
    render_simple,
    services,
    surface,
)
from gemini_proxy.errors import AuthenticationError, InvalidRequest, NotFound
from gemini_proxy.upstream.keycheck import check_keys
from gemini_proxy.upstream.keys import load_keys

MAX_REASON = 500  # characters of an operator's disable reason: it is kept in the key's state and shown by the dashboard


def require_admin(request: Request) -> None:
    token = services(request).settings.admin_token
    if not token:
        raise NotFound("The admin routes are off: set GEMINI_PROXY_ADMIN_TOKEN to use them.")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise AuthenticationError("The admin routes need 'Authorization: Bearer <GEMINI_PROXY_ADMIN_TOKEN>'.")


def _key_id(request: Request) -> str:
    key_id = request.path_params["key_id"]
    if key_id not in {entry["key"] for entry in services(request).pool.snapshot()}:
        raise NotFound(f"No key with id {key_id!r}.", param="key_id")
    return str(key_id)


@surface(render_simple, "admin")
async def list_keys(request: Request) -> Response:
    require_admin(request)
    svc = services(request)
    return json_response({"keys": svc.pool.snapshot(), "counts": svc.pool.counts()})


@surface(render_simple, "admin")
async def check(request: Request) -> Response:
    require_admin(request)
    svc = services(request)
    keys = load_keys(svc.settings.keys or None, _existing(svc.settings.keys_file))
    results = await check_keys(svc.gateway.client, keys, svc.pool)
    return json_response({"results": [r.as_dict() for r in results]})


@surface(render_simple, "admin")
async def enable(request: Request) -> Response:
    require_admin(request)
    key_id = _key_id(request)
    services(request).pool.enable(key_id)
    return json_response({"key": key_id, "state": "enabled"})


@surface(render_simple, "admin")
async def disable(request: Request) -> Response:
    require_admin(request)
    key_id = _key_id(request)
    reason = "disabled by operator"
    raw = await read_body(request)
    if raw:
        body = parse_json_object(raw)
        reason = body.get("reason", reason)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("'reason' must be a non-empty string.", param="reason")
        if len(reason) > MAX_REASON:
            raise InvalidRequest(f"'reason' is longer than {MAX_REASON} characters.", param="reason")
    services(request).pool.disable(key_id, reason)
    return json_response({"key": key_id, "state": "disabled", "reason": reason})


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.exists() else None


routes = [
    Route("/api/keys", list_keys, methods=["GET"]),
    Route("/api/keys/check", check, methods=["POST"]),
    Route("/api/keys/{key_id}/enable", enable, methods=["POST"]),
    Route("/api/keys/{key_id}/disable", disable, methods=["POST"]),
]
