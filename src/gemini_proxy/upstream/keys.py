"""Gemini API keys: the ``ApiKey`` value, the keys-file format, and the keys-file watcher (a ``FileWatcher``).

Keys-file format (``GEMINI_PROXY_KEYS_FILE``)::

    # comments start with '#', blank lines are ignored
    AIza...first-key
    AIza...second-key   name=work-1 project=proj-a    # optional attributes, trailing comment
    AQ.any-other-format name=batch-2

* One key per line. The key is the first whitespace-separated token and is opaque: any
  format is accepted (``AIza...``, ``AQ. ...``, anything without whitespace).
* Optional ``name=`` (alias ``label=``) gives the key a readable id used in logs, status and
  the state store instead of the masked hash id. Names must be unique.
* Optional ``project=`` tags the Google Cloud project the key belongs to. Google applies rate
  limits per project and model, so keys of one project share cooldowns in the pool.
* Optional ``proxy=`` sends the key's requests through that outbound proxy
  (``http://[user:password@]host:port``), or ``proxy=direct`` through none, whatever
  ``GEMINI_PROXY_UPSTREAM_PROXY`` and the environment say: Google throttles per address as well
  as per key, so keys can be spread over several egress addresses. Its credentials appear
  nowhere but on the wire to the proxy (``egress`` shows it without them).
* A duplicate key (same secret) is dropped; the first line wins.

The env value (``GEMINI_PROXY_KEYS``) is comma-separated; each item uses the same syntax as a
line (``KEY name=x``). Keys from the env and the file are merged (file first).

A secret never appears in ``repr``/``str``, error messages or logs: everything outside
``upstream/`` refers to a key by ``short_id``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gemini_proxy.filewatch import FileWatcher
from gemini_proxy.upstream.http.proxy import ProxyURL, parse_proxy

__all__ = ["ApiKey", "KeysFileWatcher", "load_keys", "parse_keys"]

log = logging.getLogger("gemini_proxy.pool")

_ATTRIBUTE_NAME = re.compile(r"[a-z_]{1,20}")


@dataclass(frozen=True, slots=True, repr=False)
class ApiKey:
    secret: str = field(repr=False)
    label: str | None = None
    project: str | None = None
    proxy: str | None = field(default=None, repr=False)  # "direct", or the proxy URL (credentials and all)
    # Computed once: it is read on every request (a hash per read showed in profiles).
    short_id: str = field(init=False, repr=False, compare=False)
    """``label`` if given, else ``sha256(secret)[:6] + "..." + secret[-4:]``."""
    fingerprint: str = field(init=False, repr=False, compare=False)
    """Hash of the whole key line (secret + attributes): tells when a key's line changed."""
    route: ProxyURL | None = field(init=False, repr=False, compare=False)
    """``proxy`` read (``None``: direct, or no ``proxy=``); a malformed one is a ``ValueError``."""
    egress: str | None = field(init=False, repr=False, compare=False)
    """``proxy`` as shown: ``direct``, or the proxy's URL without its credentials."""

    def __post_init__(self) -> None:
        if self.label:
            short_id = self.label
        else:
            short_id = f"{hashlib.sha256(self.secret.encode()).hexdigest()[:6]}...{self.secret[-4:]}"
        object.__setattr__(self, "short_id", short_id)
        line = "\0".join((self.secret, self.label or "", self.project or "", self.proxy or ""))
        object.__setattr__(self, "fingerprint", hashlib.sha256(line.encode()).hexdigest()[:16])
        route = parse_proxy(self.proxy) if self.proxy is not None else None
        object.__setattr__(self, "route", route)
        object.__setattr__(self, "egress", None if self.proxy is None else route.shown if route else "direct")


    def __repr__(self) -> str:
        return f"ApiKey({self.short_id})"

    __str__ = __repr__


def _parse_item(text: str, where: str) -> ApiKey | None:
    """One line/item -> ApiKey (or None if blank/comment). Errors never quote the secret."""
    head, _, _comment = text.partition(" #")
    tokens = head.split()
    if not tokens or tokens[0].startswith("#"):
        return None
    secret, attrs = tokens[0], tokens[1:]
    label: str | None = None
    project: str | None = None
    proxy: str | None = None
    for attr in attrs:
        name, eq, value = attr.partition("=")
        if not eq or not value:
            # Never quote the token: it is often a second key pasted on the same line.
            raise ValueError(f"keys {where}: expected name=value after the key (two keys on one line?)")
        if name in ("name", "label"):
            label = value
        elif name == "project":
            project = value
        elif name == "proxy":
            proxy = "direct" if value.lower() == "direct" else value
        else:
            shown = f" {name!r}" if _ATTRIBUTE_NAME.fullmatch(name) else ""  # a typo is shown, a secret is not
            raise ValueError(f"keys {where}: unknown attribute{shown} (use name=, project= or proxy=)")
    try:
        return ApiKey(secret, label, project, proxy)
    except ValueError as exc:  # the proxy= URL, the only part the key reads
        raise ValueError(f"keys {where}: proxy=: {exc}") from None


def _dedupe(keys: Sequence[ApiKey]) -> list[ApiKey]:
    seen_secrets: set[str] = set()
    seen_ids: set[str] = set()
    result: list[ApiKey] = []
    for key in keys:
        if key.secret in seen_secrets:
            continue
        if key.short_id in seen_ids:
            raise ValueError(f"keys: two different keys share the id {key.short_id!r}; names must be unique")
        seen_secrets.add(key.secret)
        seen_ids.add(key.short_id)
        result.append(key)
    return result


def parse_keys(text: str) -> list[ApiKey]:
    """Parse a keys file (format in the module docstring). Raises ValueError on a bad line."""
    keys = [_parse_item(line, f"line {n}") for n, line in enumerate(text.splitlines(), 1)]
    return _dedupe([k for k in keys if k is not None])


def _parse_env(env_value: str) -> list[ApiKey]:
    keys = [_parse_item(item, f"env item {n}") for n, item in enumerate(env_value.split(","), 1)]
    return [k for k in keys if k is not None]


def load_keys(env_value: str | None, path: Path | None) -> list[ApiKey]:
    """Keys from the file at ``path`` merged with the comma-separated env value.

    A missing file counts as empty (logged): the watcher picks it up once it is created.
    """
    keys: list[ApiKey] = []
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            log.warning("keys file %s does not exist (yet); using the keys from the environment only", path)
            text = ""
        keys += parse_keys(text)
    if env_value:
        keys += _parse_env(env_value)
    return _dedupe(keys)


class KeySink(Protocol):
    def update_keys(self, keys: Sequence[ApiKey]) -> None: ...


class KeysFileWatcher(FileWatcher[list[ApiKey]]):
    """Watches the keys file and hands the new key list (merged with the env value) to
    ``pool.update_keys``; a file that vanishes or fails to parse keeps the pool's keys (logged)."""

    def __init__(self, path: Path, pool: KeySink, *, env_value: str | None = None, interval: float = 2.0) -> None:
        def apply(keys: list[ApiKey]) -> None:
            log.info("keys file %s changed: %d keys", path, len(keys))
            pool.update_keys(keys)

        super().__init__(path, lambda p: load_keys(env_value, p), apply, what="keys file", interval=interval)
