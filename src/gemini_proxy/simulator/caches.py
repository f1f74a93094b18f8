"""cachedContents: storage scoped to the project (key group) that created each cache."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gemini_proxy.simulator import errors
from gemini_proxy.simulator.validate import parse_duration, parse_timestamp


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")




@dataclass
class CacheEntry:
    name: str
    project: str
    model: str  # "models/…"
    token_count: int
    create_time: float
    update_time: float
    expire_time: float
    display_name: str | None = None
    contents: list[dict[str, Any]] = field(default_factory=list)
    system_instruction: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_config: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "model": self.model}
        if self.display_name:
            out["displayName"] = self.display_name
        out["createTime"] = rfc3339(self.create_time)
        out["updateTime"] = rfc3339(self.update_time)
        out["expireTime"] = rfc3339(self.expire_time)
        out["usageMetadata"] = {"totalTokenCount": self.token_count}
        return out


def expiry_from(body: dict[str, Any], now: float, default_ttl: float | None) -> float | None:
    """Expiry from ``expireTime`` or ``ttl`` (already checked by ``validate.parse``; a bad one is a 400)."""
    if body.get("expireTime"):
        when = parse_timestamp(str(body["expireTime"]))
        if when is None:
            raise errors.invalid_argument(errors.invalid_value_text(
                "expire_time", "type.googleapis.com/google.protobuf.Timestamp", body["expireTime"]), "expire_time")
        return when
    if body.get("ttl"):
        ttl = parse_duration(str(body["ttl"]))
        if ttl is None:
            raise errors.invalid_argument(errors.invalid_value_text(
                "ttl", "type.googleapis.com/google.protobuf.Duration", body["ttl"]), "ttl")
        return now + ttl
    return None if default_ttl is None else now + default_ttl


class CacheStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, CacheEntry] = {}
        self._serial = 0

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def create(self, project: str, body: dict[str, Any], token_count: int) -> CacheEntry:
        now = self.clock()
        with self._lock:
            self._serial += 1
            digest = hashlib.sha256(f"{project}|{self._serial}|{now}".encode()).digest()[:9]
            name = "cachedContents/" + base64.b32encode(digest).decode().lower().rstrip("=")
            expire = expiry_from(body, now, 3600.0)
            assert expire is not None
            entry = CacheEntry(
                name=name,
                project=project,
                model=str(body["model"]),
                token_count=token_count,
                create_time=now,
                update_time=now,
                expire_time=expire,
                display_name=body.get("displayName"),
                contents=list(body.get("contents") or []),
                system_instruction=body.get("systemInstruction"),
                tools=body.get("tools"),
                tool_config=body.get("toolConfig"),
            )
            self._entries[name] = entry
        return entry

    def get(self, project: str, name: str) -> CacheEntry:
        """The cache, or Google's 403 when it does not exist, expired, or belongs to another project."""
        if not name.startswith("cachedContents/"):
            name = "cachedContents/" + name
        entry = self._entries.get(name)
        if entry is None or entry.project != project or entry.expire_time <= self.clock():
            raise errors.cache_denied()
        return entry

    def list(self, project: str, page_size: int, page_token: str | None) -> dict[str, Any]:
        now = self.clock()
        mine = sorted(
            (e for e in self._entries.values() if e.project == project and e.expire_time > now),
            key=lambda e: (e.create_time, e.name),
        )
        start = 0
        if page_token:
            try:
                start = int(base64.urlsafe_b64decode(page_token.encode()).decode())
            except ValueError as exc:
                raise errors.invalid_argument("Invalid page token.") from exc
        page = mine[start : start + page_size]
        out: dict[str, Any] = {}
        if page:
            out["cachedContents"] = [e.to_json() for e in page]
        if start + page_size < len(mine):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(start + page_size).encode()).decode()
        return out

    def update(self, project: str, name: str, body: dict[str, Any]) -> CacheEntry:
        entry = self.get(project, name)
        now = self.clock()
        expire = expiry_from(body, now, None)
        with self._lock:
            if expire is not None:
                entry.expire_time = expire
            if "displayName" in body:
                entry.display_name = body["displayName"]
            entry.update_time = now
        return entry

    def delete(self, project: str, name: str) -> None:
        entry = self.get(project, name)
        with self._lock:
            self._entries.pop(entry.name, None)
