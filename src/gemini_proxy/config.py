"""Settings in one place.

Every setting is an environment variable prefixed ``GEMINI_PROXY_`` (also read from an optional
``.env`` file); command-line flags override both. ``Settings`` is built once at start-up and
passed down; nothing else reads the environment. The names are a public contract documented in
the README's settings table.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from gemini_proxy.upstream.http.proxy import ProxyURL

DEFAULT_UPSTREAM = "https://generativelanguage.googleapis.com"


class SettingsError(ValueError):
    """A setting is wrong. ``setting`` is its environment name, e.g. ``GEMINI_PROXY_PORT``."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def _split_csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_aliases(value: str) -> dict[str, str]:
    """``gpt-4o=gemini-2.5-flash,gpt-4o-mini=gemini-2.5-flash-lite`` -> dict."""
    aliases: dict[str, str] = {}
    for item in _split_csv(value):
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"expected name=model pairs separated by commas, got {item!r}")
        aliases[name.strip()] = target.strip()
    return aliases


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GEMINI_PROXY_", env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    # Network
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: str = "info"
    access_log: bool = False

    # Keys and upstream
    keys: str = ""
    keys_file: Path | None = Path("secrets/gemini_tokens.txt")
    upstream_url: str = DEFAULT_UPSTREAM
    connect_timeout: float = Field(10.0, gt=0)
    request_timeout: float = Field(300.0, gt=0)
    # Connections to Gemini open at once (HTTP/1.1: one per request in flight, streams included);
    # past it requests wait for one, and the wait shows in /metrics. Bounds the sockets held upstream.
    # As many as client connections by default: a stream holds its connection for its whole life, so
    # a smaller pool would make the stream past it wait for another to end before its first byte.
    upstream_max_connections: int = Field(2048, ge=1, le=65536)
    # The outbound proxy to Gemini: "" = the environment's (HTTPS_PROXY or HTTP_PROXY, by the
    # upstream URL's scheme, unless NO_PROXY names its host), "direct" = none, or
    # http://[user:password@]host:port. A key's proxy= in the keys file overrides it.
    upstream_proxy: str = ""
    # Largest request body accepted from a client: Gemini takes 20 MB of inline data per request,
    # which base64 and JSON make ~27 MB on the wire.
    max_request_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # Seconds a client may leave its request body unfinished without sending anything (then 408).
    body_timeout: float = Field(60.0, gt=0)
    # The request head (request line and headers), bounded before anything else is read (api/server.py):
    # its size (then 431), its number of headers (then 431), and the seconds it may take to arrive (then 408).
    max_header_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_headers: int = Field(100, ge=8, le=10_000)
    header_timeout: float = Field(30.0, gt=0)
    # Client connections open at once in one process; past it a new one gets 503 and is closed.
    max_connections: int = Field(2048, ge=1)

    # State
    db: str = "gemini-proxy.db"
    redis_url: str | None = None

    # Client access
    auth_tokens: str = ""
    # Named clients with optional limits (JSON, docs/clients.md); reloaded when it changes.
    clients_file: Path | None = None
    admin_token: str | None = None
    # Origins whose pages may call the proxy from a browser (CORS): comma-separated
    # ``scheme://host[:port]``, or ``*``. Empty: no CORS headers, preflights get 405.
    cors_origins: str = ""

    # Models
    default_model: str = "gemini-2.5-flash"
    model_aliases: str = ""
    # Claude model names on the Anthropic surface (/v1/messages): name or class word = Gemini model.
    # Empty: the default table (translate.anthropic.DEFAULT_CLAUDE_MODELS).
    anthropic_models: str = ""
    models_cache_ttl: float = Field(300.0, ge=0)

    # Pool and retries
    retry_attempts: int = Field(4, ge=1, le=50)
    retry_deadline: float = Field(60.0, gt=0)
    max_wait: float = Field(3.0, ge=0)
    max_concurrency_per_key: int | None = Field(None, ge=1)
    rpm_per_key: int | None = Field(None, ge=1)

    # Agent delegation (/api/agents/...)
    agents_file: Path | None = None
    agents_concurrency: int = Field(4, ge=1, le=256)
    agents_job_timeout: float = Field(3600.0, gt=0)
    agents_retention: float = Field(7 * 86400.0, gt=0)
    # Largest task plus context of one agent job (UTF-8 bytes, context as JSON) for a client without
    # its own max_job_context_bytes; a larger job is a 413 before anything is stored.
    max_job_context_bytes: int = Field(1024 * 1024, ge=1024)
    responses_retention: float = Field(30 * 86400.0, gt=0)  # stored /v1/responses, as OpenAI keeps them
    responses_max_record_bytes: int = Field(8 * 1024 * 1024, ge=1024)  # larger responses are not stored
    agents_lease: float = Field(30.0, ge=1)

    # Internal: the folder where the workers of ``serve --workers N`` share their metrics (set by serve).
    metrics_dir: Path | None = None

    # Media fetched from URLs that clients send (images)
    media_max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    media_timeout: float = Field(10.0, gt=0)
    media_max_urls: int = Field(100, ge=1)  # distinct URLs one request may name (refused before fetching)
    media_max_total_bytes: int = Field(64 * 1024 * 1024, ge=1)  # all the media one request fetches
    allow_private_media_urls: bool = False

    @field_validator("upstream_proxy")
    @classmethod
    def _check_proxy(cls, value: str) -> str:
        value = value.strip()
        if value:
            from gemini_proxy.upstream.http.proxy import parse_proxy  # the HTTP client, only when a proxy is set

            parse_proxy(value)  # the message never holds the credentials
        return value

    def outbound_proxy(self, environ: Mapping[str, str] | None = None) -> ProxyURL | None:
        """The proxy connections to the upstream go through (keys without their own ``proxy=``).
        Raises ``ValueError`` naming the environment variable when its value is malformed."""
        from gemini_proxy.upstream.http.proxy import ProxyURL, parse_proxy

        if self.upstream_proxy:
            return parse_proxy(self.upstream_proxy)
        found = environment_proxy(self.upstream_url, os.environ if environ is None else environ)
        if found is None:
            return None
        name, value = found
        try:
            return ProxyURL.parse(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    @field_validator("upstream_url")
    @classmethod
    def _check_upstream(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value.endswith("/v1beta"):
            value = value[: -len("/v1beta")]
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as {DEFAULT_UPSTREAM}, got {value!r}")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise ValueError(f"malformed port in {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.lower()
        if value not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError("expected one of critical, error, warning, info, debug")
        return value

    @field_validator("model_aliases", "anthropic_models")
    @classmethod
    def _check_aliases(cls, value: str) -> str:
        parse_aliases(value)
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: str) -> str:
        for origin in _split_csv(value):
            if origin == "*":
                continue
            parts = urlsplit(origin)
            bare = parts.path in ("", "/") and not parts.query
            if parts.scheme not in ("http", "https") or not parts.hostname or not bare:
                raise ValueError(f"expected '*' or origins such as https://app.example.com, got {origin!r}")
        return value

    @field_validator("keys_file", "agents_file", "clients_file", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _check_redis(self) -> Settings:
        if self.redis_url is not None and self.redis_url.strip() == "":
            object.__setattr__(self, "redis_url", None)
        if self.redis_url and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("redis_url: expected redis://host:port/db, rediss://... or unix://...")
        return self

    # Derived values -------------------------------------------------------------------------

    @property
    def client_tokens(self) -> frozenset[str]:
        return frozenset(_split_csv(self.auth_tokens))

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        """``("*",)`` when any origin may; an origin is compared as the browser sends it (no trailing slash)."""
        origins = tuple(origin.rstrip("/") for origin in _split_csv(self.cors_origins))
        return ("*",) if "*" in origins else origins

    @property
    def aliases(self) -> dict[str, str]:
        return parse_aliases(self.model_aliases)

    @property
    def claude_models(self) -> dict[str, str]:
        """Claude name or class word -> Gemini model: ``GEMINI_PROXY_ANTHROPIC_MODELS`` or the default table."""
        if not self.anthropic_models.strip():
            from gemini_proxy.translate.anthropic import DEFAULT_CLAUDE_MODELS

            return dict(DEFAULT_CLAUDE_MODELS)
        return parse_aliases(self.anthropic_models)

    @property
    def env_keys(self) -> list[str]:
        return _split_csv(self.keys)

    @property
    def binds_loopback_only(self) -> bool:
        return is_loopback_host(self.host)


def environment_proxy(url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable, value)`` of the proxy the environment names for ``url``, read as curl reads
    it: ``https_proxy`` or ``HTTPS_PROXY`` for an https URL (``http_proxy``, ``HTTP_PROXY`` for
    http; lower case first), unless ``no_proxy`` / ``NO_PROXY`` names the host."""
    parts = urlsplit(url)
    for name in (f"{parts.scheme}_proxy", f"{parts.scheme.upper()}_PROXY"):
        value = environ.get(name, "").strip()
        if value:
            break
    else:
        return None
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if any(_names_host(entry.strip().lower(), host, port) for entry in no_proxy.split(",")):
        return None
    return name, value


def _names_host(entry: str, host: str, port: int) -> bool:
    """One ``NO_PROXY`` entry: ``*``, a host name or domain (``example.com`` also covers its
    subdomains; a leading ``.`` or ``*.`` is the same), ``name:port``, an IP address or a CIDR block."""
    if not entry:
        return False
    if entry == "*":
        return True
    if entry.count(":") == 1 and not entry.startswith("["):
        entry, _, entry_port = entry.partition(":")
        if entry_port.isdigit() and int(entry_port) != port:
            return False
    try:
        return ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        pass
    name = entry.removeprefix("*").lstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Names of the prefix that are not settings of the proxy: compose.yaml's published address.
_NOT_SETTINGS = {"GEMINI_PROXY_PUBLISH"}


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``GEMINI_PROXY_*`` variable that names no setting (a typo would otherwise
    leave the proxy running on the default, for example without client tokens), with the closest
    setting's name when there is one. Values are never shown: they may be secrets."""
    import difflib

    known = sorted({"GEMINI_PROXY_" + name.upper() for name in Settings.model_fields} | _NOT_SETTINGS)
    warnings = []
    for name in sorted(environ):
        if name.startswith("GEMINI_PROXY_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"{name} is not a setting of gemini-proxy and is ignored{hint}")
    return warnings


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, ``.env`` and ``overrides`` (CLI flags).

    Raises ``SettingsError`` naming the environment variable of the first bad setting.
    """
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error.get("loc", ())]
        field = loc[0] if loc else "settings"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if field == "settings" or not loc:
            field, _, message = message.partition(": ") if ": " in message else ("settings", "", message)
        raise SettingsError(f"GEMINI_PROXY_{field.upper()}", message) from None
