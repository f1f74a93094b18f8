"""Admin routes under ``/api/clients``: list clients with their usage; add, change, disable and
remove clients at run time.

Guarded by ``GEMINI_PROXY_ADMIN_TOKEN`` like ``/api/keys`` (without it the routes are off: 404).
Clients added here are kept in the state store (``state/client_records.py``) and apply on every
worker and replica; the clients of the file and of ``GEMINI_PROXY_AUTH_TOKENS`` are listed too but
are changed where they are written (a 409 says so). A token is never shown, except the one the
proxy makes for a client added without one: once, in the answer that adds it.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gemini_proxy.api.common import json_response, read_json_object, render_simple, services, surface
from gemini_proxy.api.keys import require_admin
from gemini_proxy.api.system import client_status
from gemini_proxy.clients import ADMIN, digest_of
from gemini_proxy.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from gemini_proxy.state.client_records import MAX_CLIENTS, ClientPatch, ClientSpec, ManagedClients, to_client


def _managed(request: Request) -> ManagedClients:
    require_admin(request)
    managed = services(request).managed_clients
    if managed is None:
        raise ServiceUnavailable("The clients store is not open yet.")
    return managed


def _parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ())) or "body"
        # pydantic's message, never the input (which may be a token)
        raise InvalidRequest(f"'{field}': {error['msg']}.", param=field) from None


def _entries(request: Request, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every client: the registry's (with usage), then the disabled ones of the admin API."""
    svc = services(request)
    registry = svc.clients
    known = set(registry.names()) if registry is not None else set()
    # the registry's clients (a removed client's usage stays in /metrics and the status API)
    entries = {entry["name"]: entry for entry in client_status(svc, ADMIN) if entry["name"] in known}
    for name, record in records.items():
        if name not in entries:  # disabled (or shadowed by the file): still listed
            entries[name] = {"name": name, "limits": to_client(record).limits(), "usage": {}, "usage_by_model": {}}
    out = []
    for name in sorted(entries):
        entry = entries[name]
        if name in ("admin", "anon"):
            continue
        source = registry.source(name) if registry is not None else None
        entry["source"] = source or "api"
        managed = records.get(name)
        entry["disabled"] = bool(managed.get("disabled")) if managed is not None and source is None else False
        out.append(entry)
    return out


def _one(request: Request, records: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    for entry in _entries(request, records):
        if entry["name"] == name:
            return entry
    raise NotFound(f"No client named {name!r}.", param="name")


def _editable(request: Request, records: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    record = records.get(name)
    registry = services(request).clients
    source = registry.source(name) if registry is not None else None
    if source in ("file", "env"):
        where = "the clients file (GEMINI_PROXY_CLIENTS_FILE)" if source == "file" else "GEMINI_PROXY_AUTH_TOKENS"
        raise Conflict(f"Client {name!r} comes from {where}: change it there.", param="name")
    if record is None:
        raise NotFound(f"No client named {name!r}.", param="name")
    return record


@surface(render_simple, "admin")
async def list_clients(request: Request) -> Response:
    managed = _managed(request)
    return json_response({"clients": _entries(request, await managed.load())})


@surface(render_simple, "admin")
async def get_client(request: Request) -> Response:
    managed = _managed(request)
    return json_response({"client": _one(request, await managed.load(), request.path_params["name"])})


@surface(render_simple, "admin")
async def add_client(request: Request) -> Response:
    managed = _managed(request)
    spec: ClientSpec = _parse(ClientSpec, await read_json_object(request))
    made = spec.token is None
    token = secrets.token_urlsafe(32) if spec.token is None else spec.token
    digest = digest_of(token)
    registry = services(request).clients
    refused = registry.taken(spec.name, digest) if registry is not None else None
    if refused is not None:
        raise Conflict(f"Client {spec.name!r} cannot be added: {refused}.", param="name")
    async with managed.editing() as records:
        if spec.name in records:
            raise Conflict(f"A client named {spec.name!r} exists; PATCH or DELETE it.", param="name")
        if any(r["digest"] == digest for r in records.values()):
            raise Conflict("Its token is already another client's.", param="token")
        if len(records) >= MAX_CLIENTS:
            raise Conflict(f"The admin API holds at most {MAX_CLIENTS} clients; remove one first.", param="name")
        record = spec.model_dump(exclude={"token"}, exclude_none=True)
        record["digest"] = digest
        records[spec.name] = record
    answer: dict[str, Any] = {"client": _one(request, managed.records, spec.name)}
    if made:
        answer["token"] = token  # shown once: only its digest is kept
    return json_response(answer, status=201)


@surface(render_simple, "admin")
async def change_client(request: Request) -> Response:
    managed = _managed(request)
    name = request.path_params["name"]
    patch: ClientPatch = _parse(ClientPatch, await read_json_object(request))
    async with managed.editing() as records:
        record = dict(_editable(request, records, name))
        for field in patch.model_fields_set:
            value = getattr(patch, field)
            if value is None:
                record.pop(field, None)
            else:
                record[field] = value
        records[name] = record
    return json_response({"client": _one(request, managed.records, name)})


@surface(render_simple, "admin")
async def remove_client(request: Request) -> Response:
    managed = _managed(request)
    name = request.path_params["name"]
    async with managed.editing() as records:
        _editable(request, records, name)
        del records[name]
    return json_response({"name": name, "deleted": True})


routes = [
    Route("/api/clients", list_clients, methods=["GET"]),
    Route("/api/clients", add_client, methods=["POST"]),
    Route("/api/clients/{name}", get_client, methods=["GET"]),
    Route("/api/clients/{name}", change_client, methods=["PATCH"]),
    Route("/api/clients/{name}", remove_client, methods=["DELETE"]),
]
