"""Which client a context cache (``cachedContents/...``) belongs to.

Google knows only the project of the key that created a cache; the proxy remembers the client
that created it through the proxy, in the state store's key-value records (namespace
``cacheclient``, cache name -> client name). Another client gets Google's 404 for it on get,
patch, delete and any generation that names it, and does not see it listed; the admin token sees
and uses every cache. A cache the proxy did not see created (made with the keys elsewhere, or
before the proxy knew clients) belongs to no client: only the admin sees it.

With no client token configured there is one trust domain (``anon``) and nothing is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from gemini_proxy.errors import NotFound

if TYPE_CHECKING:
    from gemini_proxy.api.common import Services
    from gemini_proxy.clients import Client

__all__ = ["check_cache", "check_cache_in_raw", "remember_cache", "visible_caches"]

NAMESPACE = "cacheclient"
# How long the proxy remembers a cache's client: longer than caches are normally kept (Google's
# default TTL is an hour); a cache that outlives it becomes the admin's only.
OWNER_TTL = 30 * 24 * 3600.0


def _checked(svc: Services, client: Client) -> bool:
    return not client.admin and svc.clients is not None and svc.clients.configured


def not_found(name: str) -> NotFound:
    return NotFound(f"CachedContent not found: {name[:200]}.", param="name", code="cache_not_found")


async def remember_cache(svc: Services, answer: bytes, client: Client) -> None:
    """After a successful create: the new cache (its ``name`` in Google's answer) is ``client``'s."""
    try:
        created = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return
    name = created.get("name") if isinstance(created, dict) else None
    if isinstance(name, str) and name:
        await svc.store.put_many(NAMESPACE, {name: client.name}, ttl=OWNER_TTL)


async def check_cache(svc: Services, name: object, client: Client) -> None:
    """Raises Google's 404 unless ``client`` may use the cache ``name`` (None: no cache named)."""
    if not isinstance(name, str) or not _checked(svc, client):
        return
    owner = (await svc.store.get_many(NAMESPACE, [name])).get(name)
    if owner != client.name:
        raise not_found(name)


async def check_cache_in_raw(svc: Services, body: bytes, client: Client) -> None:
    """The same for a native request body as the client sent it (parsed only if it names a cache)."""
    if b"cachedContent" not in body or not _checked(svc, client):
        return
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # Google answers a body that is not JSON with its own 400
    if isinstance(parsed, dict):
        await check_cache(svc, parsed.get("cachedContent"), client)


async def visible_caches(svc: Services, items: Sequence[Any], client: Client) -> list[Any]:
    """The caches of a listing page that ``client`` may see."""
    if not _checked(svc, client) or not items:
        return list(items)
    names: list[str] = [item["name"] for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]
    owners = await svc.store.get_many(NAMESPACE, names) if names else {}
    return [item for item in items if isinstance(item, dict) and owners.get(str(item.get("name"))) == client.name]
