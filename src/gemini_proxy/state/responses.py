"""Stored ``/v1/responses`` answers (``store: true``): what ``GET``, ``input_items`` and a follow-up
with ``previous_response_id`` read.

Records live in the state store's key-value records (namespace ``resp``), so they are in memory,
in the SQLite file, or in Redis like every other record, and a follow-up can land on another
worker or replica. A record is the ``StoredResponse`` of ``translate/responses`` as JSON; this
module reads nothing in it but ``response.id``. Each record:

* expires after ``GEMINI_PROXY_RESPONSES_RETENTION`` seconds;
* is at most ``GEMINI_PROXY_RESPONSES_MAX_RECORD_BYTES`` once encoded (a larger one is not stored:
  ``put`` returns False, and the id is then unknown like any other);
* belongs to the client that made it: the key is the owner's name plus the response id, and the
  owner is stored in the record and checked on read, so one client never reads (or deletes)
  another's response. The owner is the client's name (``gemini_proxy.clients``; ``anon`` when
  no client token is configured), never a token.

``delete`` overwrites the record with a tombstone that expires with the retention (the stores'
key-value records have no delete; a tombstone reads as missing everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from gemini_proxy.state.base import StateStore

__all__ = ["NAMESPACE", "ResponseStore"]

NAMESPACE = "resp"
_TOMBSTONE = ""


class ResponseStore:
    def __init__(self, store: StateStore, *, retention: float, max_record_bytes: int) -> None:
        self._store = store
        self._retention = retention
        self._max = max_record_bytes

    @staticmethod
    def _key(owner: str, response_id: str) -> str:
        return f"{owner}/{response_id}"

    async def put(self, owner: str, record: Mapping[str, Any]) -> bool:
        """Stores ``record`` under its response id; False when it is too large to keep."""
        response_id = record["response"]["id"]
        data = orjson.dumps({"owner": owner, **record})
        if len(data) > self._max:
            return False
        await self._store.put_many(NAMESPACE, {self._key(owner, response_id): data.decode()}, ttl=self._retention)
        return True

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None:
        key = self._key(owner, response_id)
        raw = (await self._store.get_many(NAMESPACE, [key])).get(key)
        if not raw:
            return None
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.pop("owner", None) != owner:
            return None
        return data

    async def delete(self, owner: str, response_id: str) -> bool:
        """True when there was a record to delete."""
        if await self.get(owner, response_id) is None:
            return False
        await self._store.put_many(NAMESPACE, {self._key(owner, response_id): _TOMBSTONE}, ttl=self._retention)
        return True
