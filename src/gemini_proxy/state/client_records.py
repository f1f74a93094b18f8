"""Clients added through the admin API (``api/clients.py``), kept in the state store.

They are one JSON document, namespace ``clients``, key ``managed``: in SQLite for the workers of one
machine, in Redis for replicas (the memory store keeps them for the process's life only). A record
holds the client's name, its token's SHA-256 (never the token), its limits and whether it is
disabled. An edit reads the document, changes it and writes it back under this process's lock:
two admins editing at the same instant on two replicas can lose one of the edits (the later write
wins), which the answer of the losing one does not show; admin edits are rare, and a lost one is
seen in ``GET /api/clients``. Every process reads the document every ``interval`` seconds
(``ManagedClients.run``) and gives the enabled clients to the registry, so a client added, changed,
disabled or removed through one replica applies on every one within that time.

Bounded: at most ``MAX_CLIENTS`` records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from gemini_proxy.clients import NAME_PATTERN, Client, Limit, make_client
from gemini_proxy.state.base import StateStore

__all__ = ["MAX_CLIENTS", "ClientPatch", "ClientSpec", "ManagedClients", "to_client"]

log = logging.getLogger("gemini_proxy")

NAMESPACE, KEY = "clients", "managed"
MAX_CLIENTS = 1000
Models = list[Annotated[str, Field(min_length=1, max_length=200)]] | None


class _Limits(BaseModel):
    """The limit fields of ``ClientSpec`` and ``ClientPatch``: those of the clients file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: Limit = None
    tpm: Limit = None
    tokens_per_day: Limit = None
    max_concurrency: Limit = None
    max_queued_jobs: Limit = None
    max_job_context_bytes: Limit = None
    models: Annotated[Models, Field(max_length=100)] = None


class ClientSpec(_Limits):
    """``POST /api/clients``: as an entry of the clients file; without a token one is made."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    token: Annotated[str | None, Field(min_length=8, max_length=512)] = None
    disabled: bool = False


class ClientPatch(_Limits):
    """``PATCH /api/clients/{name}``: the fields given replace the client's (``null`` removes a limit)."""

    disabled: bool | None = None


def to_client(record: dict[str, Any]) -> Client:
    return make_client(record["name"], record["digest"], record)


class ManagedClients:
    """The admin API's client records in ``store``; after a read that found them changed, ``apply``
    gets the enabled ones, and ``held``: whether there are any (disabled ones too)."""

    def __init__(self, store: StateStore, apply: Callable[..., None], *, interval: float = 2.0) -> None:
        self._store = store
        self._apply = apply
        self.interval = interval
        self._lock = asyncio.Lock()
        self._seen: bytes | None = None
        self.records: dict[str, dict[str, Any]] = {}

    async def load(self) -> dict[str, dict[str, Any]]:
        """Reads the document; when it changed, the registry gets its enabled clients."""
        raw = (await self._store.get_many(NAMESPACE, [KEY])).get(KEY, "")
        encoded = raw.encode()
        if encoded != self._seen:
            records: dict[str, dict[str, Any]] = {}
            if raw:
                try:
                    records = {r["name"]: r for r in orjson.loads(raw)}
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    log.warning("managed clients: the stored document is not readable; keeping the last one")
                    return self.records
            self._seen, self.records = encoded, records
            self._apply([to_client(r) for r in records.values() if not r.get("disabled")], held=bool(records))
        return self.records

    @contextlib.asynccontextmanager
    async def editing(self) -> Any:
        """Yields the current records (by name) to change in place; they are written back after."""
        async with self._lock:
            records = dict(await self.load())
            yield records
            raw = orjson.dumps(sorted(records.values(), key=lambda r: r["name"])).decode()
            await self._store.put_many(NAMESPACE, {KEY: raw})
            self._seen = None  # read back (and applied) at once
            await self.load()

    async def run(self) -> None:
        """Reads the document every ``interval`` seconds until cancelled."""
        failing = False
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.load()
            except Exception as exc:
                if not failing:
                    log.warning("managed clients: state store unreachable (%s); keeping the last clients", exc)
                failing = True
            else:
                failing = False
