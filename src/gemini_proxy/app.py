"""The app factory: wiring and lifespan only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator

from starlette.routing import Route

from gemini_proxy.agents.registry import load_agents
from gemini_proxy.agents.scheduler import JobScheduler
from gemini_proxy.agents.service import Agents
from gemini_proxy.api import agents, anthropic, dashboard, gemini, keys, openai, responses, simple, system
from gemini_proxy.api import clients as client_routes
from gemini_proxy.api.asgi import ProxyApp
from gemini_proxy.api.common import Services
from gemini_proxy.api.mcp import McpEndpoint
from gemini_proxy.api.system import public_url
from gemini_proxy.clients import ClientRegistry, load_clients
from gemini_proxy.config import Settings, load_settings
from gemini_proxy.filewatch import FileWatcher
from gemini_proxy.limits import ClientLimiter
from gemini_proxy.media import MediaFetcher
from gemini_proxy.observability import Metrics, setup_logging
from gemini_proxy.state import open_store
from gemini_proxy.state.client_records import ManagedClients
from gemini_proxy.state.jobs import JobStoreError, open_job_store
from gemini_proxy.upstream.caches import CachedContents
from gemini_proxy.upstream.client import Egress, GeminiClient, make_connections
from gemini_proxy.upstream.embeddings import Embeddings
from gemini_proxy.upstream.gateway import Gateway
from gemini_proxy.upstream.generation import Generation
from gemini_proxy.upstream.http import Transport
from gemini_proxy.upstream.keys import KeysFileWatcher, load_keys
from gemini_proxy.upstream.model_names import KnownModels
from gemini_proxy.upstream.models import Models
from gemini_proxy.upstream.pool import KeyPool

log = logging.getLogger("gemini_proxy")


def create_app(settings: Settings, *, transport: Transport | None = None) -> ProxyApp:
    """``transport``: what carries requests to Gemini instead of the pooled connections to
    ``settings.upstream_url`` (tests pass an in-process ``ASGITransport``); the app closes it."""
    mcp = McpEndpoint(host=settings.host, max_body=settings.max_request_bytes)
    clients = ClientRegistry(
        settings.client_tokens,
        load_clients(settings.clients_file) if settings.clients_file else (),
        admin_token=settings.admin_token,
    )

    limiter = ClientLimiter()

    @contextlib.asynccontextmanager
    async def lifespan(app: ProxyApp) -> AsyncIterator[None]:
        # What is opened is closed, in reverse order, also when start-up fails halfway.
        async with contextlib.AsyncExitStack() as stack:
            app.services = await _start(settings, stack, transport)
            app.services.clients = clients
            app.services.limiter = limiter
            limiter.store = app.services.store  # limits are shared with the other workers and replicas
            limiter.clients = clients.clients
            # Clients added through the admin API: read before the first request, then every 2 s.
            managed = app.services.managed_clients = ManagedClients(app.services.store, clients.use_managed)
            with contextlib.suppress(Exception):  # unreachable now: run() reads them once it is back
                await managed.load()
            reading = asyncio.create_task(managed.run())
            stack.push_async_callback(_cancel, reading)
            app.services.metrics.on_tokens = limiter.spend
            sharing = asyncio.create_task(limiter.run())
            stack.push_async_callback(_cancel, sharing)
            if settings.clients_file is not None:
                watcher = FileWatcher(settings.clients_file, load_clients, clients.reload, what="clients file")
                await watcher.start()
                stack.push_async_callback(watcher.close)
            mcp.services = app.services
            stack.push_async_callback(mcp.close)
            settle_garbage_collector()
            log.info(
                "gemini-proxy ready",
                extra={"keys": app.services.pool.counts(), "upstream": public_url(settings.upstream_url)},
            )
            yield

    return ProxyApp(
        # Routes are matched in order: the hot ones first.
        [
            *openai.routes, *anthropic.routes, *responses.routes, *gemini.routes, *system.routes, *keys.routes,
            *simple.routes, *client_routes.routes,
            *agents.routes, *dashboard.routes, Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
        ],
        lifespan=lifespan,
        clients=clients,
        cors_origins=settings.cors_origin_list,
        limiter=limiter,
    )


async def _start(settings: Settings, stack: contextlib.AsyncExitStack, transport: Transport | None) -> Services:
    """Opens everything the app runs on; each part's close goes on ``stack`` as soon as it is open."""
    store = await open_store(settings.db or None, settings.redis_url)
    stack.push_async_callback(store.close)
    keys = load_keys(settings.keys or None, settings.keys_file)
    pool = KeyPool(
        keys,
        store,
        max_concurrency_per_key=settings.max_concurrency_per_key,
        rpm_per_key=settings.rpm_per_key,
    )
    await pool.start()
    stack.push_async_callback(pool.close)
    # The models that get per-key state and metric labels of their own (``upstream/model_names.py``).
    names = KnownModels([settings.default_model, *settings.aliases.values(), *settings.claude_models.values()])
    metrics = Metrics(pool.snapshot, settings.metrics_dir, names=names)
    if settings.metrics_dir is not None:
        sharing = asyncio.create_task(metrics.share_forever())
        stack.push_async_callback(_cancel, sharing)
    connections: Transport | Egress
    if transport is None:
        make = functools.partial(
            make_connections,
            base_url=settings.upstream_url,
            connect_timeout=settings.connect_timeout,
            request_timeout=settings.request_timeout,
            max_connections=settings.upstream_max_connections,
            on_wait=metrics.observe_connection_wait,
        )
        connections = Egress(make, settings.outbound_proxy())
        metrics.upstream_connections = connections.counts
    else:  # tests: every key's requests go to the transport given
        connections = transport
    stack.push_async_callback(connections.close)
    gateway = Gateway(
        GeminiClient(connections),
        pool,
        attempts=settings.retry_attempts,
        deadline=settings.retry_deadline,
        max_wait=settings.max_wait,
        observer=metrics,
        names=names,
    )
    models = Models(gateway, ttl=settings.models_cache_ttl, names=names)
    names.refresh = models.catalog
    media = MediaFetcher(
        max_bytes=settings.media_max_bytes,
        timeout=settings.media_timeout,
        allow_private=settings.allow_private_media_urls,
        max_urls=settings.media_max_urls,
        max_total_bytes=settings.media_max_total_bytes,
    )
    stack.push_async_callback(media.close)
    if settings.keys_file:
        watcher = KeysFileWatcher(settings.keys_file, pool, env_value=settings.keys or None)
        await watcher.start()
        stack.push_async_callback(watcher.close)
    registry = load_agents(settings.agents_file)  # checked by the CLI before start-up
    jobs = open_job_store(settings.db or None, settings.redis_url)
    stack.push_async_callback(jobs.close)
    with contextlib.suppress(JobStoreError):  # unreachable now: the runner says so and waits for it
        await jobs.open()
    scheduler = JobScheduler(
        jobs,
        gateway,
        metrics,
        concurrency=settings.agents_concurrency,
        lease=settings.agents_lease,
        retention=settings.agents_retention,
    )
    metrics.jobs_running = lambda: scheduler.running
    await scheduler.start()
    stack.push_async_callback(scheduler.close)  # closed first: running jobs are queued again
    agents_service = Agents(
        registry, jobs, scheduler, metrics, job_timeout=settings.agents_job_timeout,
        max_context_bytes=settings.max_job_context_bytes,
    )
    if settings.agents_file is not None:
        agents_watcher = FileWatcher(settings.agents_file, load_agents, agents_service.use_registry, what="agents file")
        await agents_watcher.start()
        stack.push_async_callback(agents_watcher.close)
    caches = CachedContents(gateway, pool)
    return Services(
        settings=settings,
        pool=pool,
        store=store,
        gateway=gateway,
        generation=Generation(gateway, caches),
        embeddings=Embeddings(gateway),
        models=models,
        caches=caches,
        metrics=metrics,
        media=media,
        aliases=settings.aliases,
        claude_models=settings.claude_models,
        loop=asyncio.get_running_loop(),
        agents=agents_service,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def settle_garbage_collector() -> None:
    """Once start-up is done: what exists now lives as long as the process, so the collector stops
    walking it (``gc.freeze``), and young collections wait for 20,000 net allocations instead of
    700. With the default, 64 requests in flight kept the collector running ~50 times a second
    and a full collection paused the process for ~50 ms; requests free nearly everything they
    allocate by reference counting, so the collector has little to find."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def create_app_from_env() -> ProxyApp:
    """Factory for ``uvicorn --factory`` and worker processes: settings from the environment.
    A worker is a fresh process: it sets up the JSON logs itself."""
    settings = load_settings()
    setup_logging(settings.log_level)
    return create_app(settings)

