"""Named clients: who a request's token belongs to, and that client's limits.

A client comes from the clients file (``GEMINI_PROXY_CLIENTS_FILE``, a JSON document
``{"clients": [{"name": "alice", "token": "...", "rpm": 60, ...}]}``, every limit optional) or
from ``GEMINI_PROXY_AUTH_TOKENS`` (each token its own client, named ``token-<8 hex of its
digest>``). Only the SHA-256 digest of a token is kept: ``ClientRegistry.resolve`` hashes the
presented token and looks the digest up, so no raw token is ever compared, stored or logged.
The admin token (``GEMINI_PROXY_ADMIN_TOKEN``) resolves to ``admin``, an identity that sees every
client's data. Without any client token configured every request is ``anon``.

The file is reloaded when it changes (``filewatch.FileWatcher``, as the keys file); a file that
fails to load keeps the clients in force. At start-up a bad file stops the proxy with one line
naming the entry (``cli.check_startup``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ADMIN",
    "ANON",
    "Client",
    "ClientRegistry",
    "ClientsFileError",
    "LIMIT_FIELDS",
    "digest_of",
    "load_clients",
    "make_client",
]

log = logging.getLogger("gemini_proxy")

RESERVED_NAMES = frozenset({"admin", "anon"})
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Client:
    """A client as the proxy knows it: its name (what logs, metrics and ownership use), its
    token's digest, and its limits (None: no limit)."""

    name: str
    digest: str = ""
    rpm: int | None = None
    tpm: int | None = None
    tokens_per_day: int | None = None
    max_concurrency: int | None = None
    max_queued_jobs: int | None = None
    max_job_context_bytes: int | None = None
    models: tuple[str, ...] | None = None
    admin: bool = False

    def limits(self) -> dict[str, Any]:
        """The limits set (``LIMIT_FIELDS``), as the status and admin APIs show them."""
        found: dict[str, Any] = {}
        for name in LIMIT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                found[name] = list(value) if name == "models" else value
        return found

    def __repr__(self) -> str:  # the digest is not secret, but there is no reason to print it
        return f"Client({self.name!r})"


ANON = Client("anon")  # every request when no client token is configured
ADMIN = Client("admin", admin=True)

Limit = Annotated[int | None, Field(default=None, ge=1)]
# A client's limits: the fields of ``Client`` that the clients file and the admin API set.
LIMIT_FIELDS = ("rpm", "tpm", "tokens_per_day", "max_concurrency", "max_queued_jobs", "max_job_context_bytes", "models")


def make_client(name: str, digest: str, limits: Mapping[str, Any]) -> Client:
    """A ``Client`` with the ``LIMIT_FIELDS`` found in ``limits`` (absent or None: no limit)."""
    models = limits.get("models")
    return Client(
        name=name,
        digest=digest,
        rpm=limits.get("rpm"),
        tpm=limits.get("tpm"),
        tokens_per_day=limits.get("tokens_per_day"),
        max_concurrency=limits.get("max_concurrency"),
        max_queued_jobs=limits.get("max_queued_jobs"),
        max_job_context_bytes=limits.get("max_job_context_bytes"),
        models=tuple(models) if models is not None else None,
    )


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    token: Annotated[str, Field(min_length=8, max_length=512)]
    rpm: Limit = None
    tpm: Limit = None
    tokens_per_day: Limit = None
    max_concurrency: Limit = None
    max_queued_jobs: Limit = None
    max_job_context_bytes: Limit = None
    models: list[Annotated[str, Field(min_length=1)]] | None = None
    disabled: bool = False


class ClientsFileError(ValueError):
    """A clients file that cannot be used; the message names the entry and never quotes a token."""


def load_clients(path: Path) -> list[Client]:
    """The enabled clients of the file at ``path``. Raises ``ClientsFileError`` (or ``OSError``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ClientsFileError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(document, dict) or set(document) != {"clients"} or not isinstance(document["clients"], list):
        raise ClientsFileError(f'{path}: expected {{"clients": [{{"name": ..., "token": ...}}, ...]}}')
    clients: list[Client] = []
    names: set[str] = set()
    digests: set[str] = set()
    for index, raw in enumerate(document["clients"]):
        label = f"clients[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label += f" ({raw['name'][:64]})"
        try:
            entry = _Entry.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error.get("loc", ())) or "entry"
            # pydantic's message, never the input (which may be the token)
            raise ClientsFileError(f"{path}: {label}: {field}: {error['msg']}") from None
        if entry.name in RESERVED_NAMES:
            raise ClientsFileError(f"{path}: {label}: name: {entry.name!r} is reserved")
        if entry.name in names:
            raise ClientsFileError(f"{path}: {label}: name: {entry.name!r} is used by an earlier entry")
        digest = digest_of(entry.token)
        if digest in digests:
            raise ClientsFileError(f"{path}: {label}: token: the same token as an earlier entry")
        names.add(entry.name)
        digests.add(digest)
        if entry.disabled:
            continue
        clients.append(make_client(entry.name, digest, entry.model_dump(include=set(LIMIT_FIELDS))))
    return clients


def env_clients(tokens: Iterable[str]) -> list[Client]:
    """One client per ``GEMINI_PROXY_AUTH_TOKENS`` token, named by its digest's first 8 hex."""
    found = []
    for token in sorted(set(tokens)):
        digest = digest_of(token)
        found.append(Client(name=f"token-{digest[:8]}", digest=digest))
    return found


class ClientRegistry:
    """Resolves a presented token to its ``Client`` by the digest (a dict lookup). Three sources:
    the environment's tokens, the clients file (``use_file``, which the watcher calls) and the
    clients added through the admin API (``use_managed``, from the state store). A token or a
    name in more than one is the file's (then the environment's): the admin API refuses such a
    client when it is added, and one shadowed later (the file gained it) is left out."""

    def __init__(
        self, env_tokens: Iterable[str] = (), file_clients: Iterable[Client] = (), *, admin_token: str | None = None
    ) -> None:
        self._env = env_clients(env_tokens)
        self._admin = digest_of(admin_token) if admin_token else None
        self._file: list[Client] = []
        self._managed: list[Client] = []
        self._held = False  # the admin API holds a client, disabled ones included
        self._by_digest: dict[str, Client] = {}
        self.use_file(list(file_clients))

    def use_file(self, clients: list[Client]) -> None:
        self._file = clients
        self._merge()

    def use_managed(self, clients: list[Client], *, held: bool | None = None) -> None:
        """The admin API's enabled clients (``state/client_records.py``), replacing the previous ones.
        ``held``: whether it holds any client, disabled ones included (default: any enabled); while
        it does, tokens are required even when every client is disabled."""
        self._managed = clients
        self._held = bool(clients) if held is None else held
        self._merge()

    def _merge(self) -> None:
        by_digest = {c.digest: c for c in self._env}
        by_digest.update((c.digest, c) for c in self._file)  # a token in both is the file's named client
        taken = {c.name for c in by_digest.values()}
        for client in self._managed:
            if client.digest not in by_digest and client.name not in taken:
                by_digest[client.digest] = client
                taken.add(client.name)
        self._by_digest = by_digest

    def source(self, name: str) -> str | None:
        """Where client ``name`` comes from: ``file``, ``env``, ``api``, or None (unknown)."""
        for where, clients in (("file", self._file), ("env", self._env), ("api", self._managed)):
            if any(c.name == name for c in clients):
                return where
        return None

    def taken(self, name: str, digest: str) -> str | None:
        """Why a new client ``name`` with token ``digest`` cannot be added (None: it can)."""
        if name in RESERVED_NAMES:
            return f"the name {name!r} is reserved"
        if digest == self._admin:
            return "its token is the admin token"
        for where, clients in (("the clients file", self._file), ("GEMINI_PROXY_AUTH_TOKENS", self._env)):
            if any(c.name == name for c in clients):
                return f"a client named {name!r} is in {where}"
            if any(c.digest == digest for c in clients):
                return f"its token is already a client's, in {where}"
        return None

    def reload(self, clients: list[Client]) -> None:
        """The clients file changed (``FileWatcher``'s apply): its names are logged, never a token."""
        log.info("clients file changed: %d clients (%s)", len(clients), ", ".join(c.name for c in clients))
        self.use_file(clients)

    @property
    def configured(self) -> bool:
        """Whether any client token is configured (then every guarded route needs one)."""
        return bool(self._by_digest) or self._held

    @property
    def has_admin(self) -> bool:
        return self._admin is not None

    def resolve(self, token: str) -> Client | None:
        digest = digest_of(token)
        if digest == self._admin:
            return ADMIN
        return self._by_digest.get(digest)

    def clients(self) -> list[Client]:
        return sorted(self._by_digest.values(), key=lambda c: c.name)

    def names(self) -> list[str]:
        return sorted(c.name for c in self._by_digest.values())

    def __len__(self) -> int:
        return len(self._by_digest)
