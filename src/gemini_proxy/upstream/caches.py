"""Google's context caches (``cachedContents``) over a pool of keys from several projects.

A cache belongs to the project of the key that created it, and only that project's keys can use
it. ``CachedContents`` remembers which key created or listed each cache (``KeyPool.remember_caches``)
and sends every request that names a cache with that key preferred (``owner*``): a generation
with ``cachedContent`` and a cache's own get, patch and delete. ``list`` reads the caches of every
project the pool's keys span as one sequence of pages.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, cast

import orjson

from gemini_proxy.errors import InvalidRequest
from gemini_proxy.upstream import urls
from gemini_proxy.upstream.allowed import allowed_models, check_model
from gemini_proxy.upstream.gateway import Answer, Gateway
from gemini_proxy.upstream.pool import KeyPool

# The pool's pseudo-model for cache management: it spends no generation quota.
CACHES = "cachedContents"


class CachedContent(TypedDict, total=False):
    """A ``CachedContent`` as Google lists it (fields the proxy reads; the rest pass through)."""

    name: str
    model: str
    displayName: str
    createTime: str
    updateTime: str
    expireTime: str
    usageMetadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CachePage:
    """One page of the proxy's cache list: the caches, and the token of the next page if any."""

    items: tuple[CachedContent, ...]
    next_page_token: str | None


class CachedContents:
    def __init__(self, gateway: Gateway, pool: KeyPool) -> None:
        self._gateway = gateway
        self._pool = pool

    # -- affinity --------------------------------------------------------------------------------
    async def owner(self, name: object) -> str | None:
        """The key that created the cache ``name`` (``cachedContents/...``), if known."""
        return await self._pool.caches.owner(name) if isinstance(name, str) else None

    async def owner_of_request(self, gemini_body: Mapping[str, Any]) -> str | None:
        """The key to prefer for a generation request (a Gemini body) that names a cache."""
        name = gemini_body.get("cachedContent")
        return await self._pool.caches.owner(name) if isinstance(name, str) else None

    async def owner_of_raw(self, body: bytes) -> str | None:
        """The same for a request body as the client sent it (parsed only if it names a cache)."""
        if b"cachedContent" not in body:
            return None
        return await self.owner(_json_object(body).get("cachedContent"))

    # -- the resource ----------------------------------------------------------------------------
    async def create(
        self, body: bytes, query: Mapping[str, str] | None, *, version: urls.Version = "v1beta"
    ) -> Answer:
        """``POST cachedContents``; the key that created the cache is remembered. The model it is
        for must be one the client may use (a cache is only of use with its own model)."""
        scope = allowed_models.get()
        if scope is not None:
            model = _json_object(body).get("model")
            check_model(model if isinstance(model, str) else "", scope)
        answer = await self._gateway.call(CACHES, "POST", urls.cached_contents(version), body=body, query=query)
        name = _json_object(answer.raw).get("name")
        if isinstance(name, str):
            await self._pool.caches.remember([name], answer.key_id)
        return answer

    async def item(
        self,
        method: str,
        name: str,
        *,
        body: bytes | None,
        query: Mapping[str, str] | None,
        version: urls.Version = "v1beta",
    ) -> Answer:
        """Get, patch or delete the cache ``name`` (``cachedContents/{id}``, checked by the
        caller), with the key that created it."""
        return await self._gateway.call(
            CACHES,
            method,
            urls.cached_content(name, version=version),
            body=body,
            query=query,
            prefer=await self._pool.caches.owner(name),
        )

    async def list(self, query: Mapping[str, str], *, version: urls.Version = "v1beta") -> CachePage | Answer:
        """Caches belong to a project, and the pool's keys may span many: the list goes through one
        key of each project in turn, as one sequence of pages. A page ends where a project's page
        has more to come or ``pageSize`` is reached (Google may return fewer than asked); the page
        token says where the next one starts: ``(project, Google's own page token)``, so that it holds
        when the key that served the last page is disabled in between. An answer other than 200 is
        returned as Google sent it."""
        projects = self._pool.project_keys()
        start, token = decode_page_token(query.get("pageToken"), [project for project, _ in projects])
        limit = page_size(query.get("pageSize"))
        path = urls.cached_contents(version)
        items: list[CachedContent] = []
        for index in range(start, len(projects)):
            project, key = projects[index]
            if limit is not None and len(items) >= limit:
                return CachePage(tuple(items), encode_page_token(project, None))
            ask = {"pageSize": str(limit - len(items))} if limit is not None else {}
            if token:
                ask["pageToken"] = token
            answer = await self._gateway.call(CACHES, "GET", path, query=ask, prefer=key)
            if answer.status != 200:
                return answer
            page = _json_object(answer.raw)
            found = [cast(CachedContent, c) for c in page.get("cachedContents") or [] if isinstance(c, dict)]
            items += found
            names = [c["name"] for c in found if isinstance(c.get("name"), str)]
            await self._pool.caches.remember(names, answer.key_id)
            next_token = page.get("nextPageToken") or None
            if isinstance(next_token, str):
                return CachePage(tuple(items), encode_page_token(project, next_token))
            token = None
        return CachePage(tuple(items), None)


def page_size(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        raise InvalidRequest(f"Invalid pageSize {value!r}: expected a whole number.", param="pageSize") from None
    return size if size > 0 else None  # Google: zero or less means the default


def encode_page_token(project: str, token: str | None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([project, token])).decode().rstrip("=")


def decode_page_token(value: str | None, projects: list[str]) -> tuple[int, str | None]:
    """``(index of the project to start with, Google's page token in it)``."""
    if not value:
        return 0, None
    try:
        project, token = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(token, str | None):
            raise ValueError(token)
        return projects.index(project), token
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidRequest(
            "Invalid pageToken: use the nextPageToken of the previous page, from this proxy and its current keys.",
            param="pageToken",
        ) from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
