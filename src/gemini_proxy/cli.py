"""The ``gemini-proxy`` command: ``serve``, ``fake-upstream`` and ``keys check``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from gemini_proxy import __version__
from gemini_proxy.config import Settings, SettingsError, load_settings, unknown_settings

if TYPE_CHECKING:
    from gemini_proxy.clients import Client
    from gemini_proxy.upstream.keys import ApiKey

DEMO_KEYS = ("demo-key-1", "demo-key-2", "demo-key-3")
EXIT_USAGE = 2


def fail(message: str) -> NoReturn:
    print(f"gemini-proxy: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The simulator's flags are loaded only for its own command: importing it would slow every start-up.
    parser = build_parser(with_simulator=bool(argv) and argv[0] == "fake-upstream")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        raise SystemExit(EXIT_USAGE)
    args.run(args)


def build_parser(*, with_simulator: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gemini-proxy", description="OpenAI-compatible gateway to Gemini.")
    parser.add_argument("--version", action="version", version=f"gemini-proxy {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1; GEMINI_PROXY_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080; GEMINI_PROXY_PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1; GEMINI_PROXY_WORKERS)")
    serve.add_argument("--log-level", help="critical|error|warning|info|debug (GEMINI_PROXY_LOG_LEVEL)")
    serve.add_argument("--demo", action="store_true", help="run against the offline simulator with fake keys")
    serve.add_argument(
        "--insecure-no-auth", action="store_true",
        help="allow binding a non-loopback address without client tokens (GEMINI_PROXY_AUTH_TOKENS)",
    )
    serve.set_defaults(run=run_serve)

    fake = commands.add_parser("fake-upstream", help="run the offline Gemini simulator")
    if with_simulator:
        from gemini_proxy import simulator

        simulator.add_cli_arguments(fake)
    fake.set_defaults(run=run_fake_upstream)

    keys = commands.add_parser("keys", help="manage the key pool")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    check = key_commands.add_parser("check", help="validate every key without spending generation quota")
    check.set_defaults(run=run_keys_check)
    return parser


# serve -----------------------------------------------------------------------------------------

def run_serve(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {
        "host": args.host, "port": args.port, "workers": args.workers, "log_level": args.log_level,
    }
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting normally lets cleanup run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.ExitStack() as stack:
        if args.demo:
            upstream = stack.enter_context(demo_simulator())
            # The simulator is on this machine: never through an outbound proxy of the environment.
            overrides.update(
                upstream_url=upstream, keys=",".join(DEMO_KEYS), keys_file="", db="", upstream_proxy="direct"
            )
        for warning in unknown_settings(os.environ):
            print(f"gemini-proxy: warning: {warning}", file=sys.stderr)
        settings = settings_or_exit(overrides)
        if args.demo and settings.workers > 1:
            # Nothing of the demo outlives it, but in memory each worker would keep its own key
            # state and agent jobs: a throwaway SQLite file lets the workers share them.
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="gemini-proxy-demo-"))
            overrides["db"] = os.path.join(folder, "demo.db")
            settings = settings_or_exit(overrides)
        check_startup(settings, insecure_no_auth=args.insecure_no_auth, demo=args.demo)
        export_settings(overrides)
        print_banner(settings, demo=args.demo)
        run_uvicorn(settings)


def settings_or_exit(overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))


def check_startup(settings: Settings, *, insecure_no_auth: bool, demo: bool) -> None:
    """The checks that must stop start-up with one clear line (exit code 2)."""
    file_clients = configured_clients(settings)
    if not settings.binds_loopback_only and not settings.client_tokens and not file_clients and not insecure_no_auth:
        fail(
            f"GEMINI_PROXY_HOST: refusing to bind {settings.host} without client tokens; set GEMINI_PROXY_AUTH_TOKENS"
            " or GEMINI_PROXY_CLIENTS_FILE, or pass --insecure-no-auth"
        )
    keys_file = settings.keys_file
    explicit_file = "GEMINI_PROXY_KEYS_FILE" in os.environ
    if keys_file is not None and (keys_file.exists() or explicit_file):
        try:
            keys_file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"GEMINI_PROXY_KEYS_FILE: cannot read {keys_file}: {exc.strerror or exc}")
    keys = configured_keys(settings)
    try:
        settings.outbound_proxy()
    except ValueError as exc:  # HTTPS_PROXY and the like: the message names the variable, never a password
        fail(str(exc))
    if not keys and not demo:
        fail(
            "GEMINI_PROXY_KEYS: no Gemini API keys configured; set GEMINI_PROXY_KEYS=key1,key2 or list them one per"
            f" line in {keys_file or 'a file named by GEMINI_PROXY_KEYS_FILE'} (or try `gemini-proxy serve --demo`)"
        )
    check_agents_file(settings)
    if not port_is_free(settings.host, settings.port):
        fail(f"GEMINI_PROXY_PORT: port {settings.port} on {settings.host} is already in use")


def configured_keys(settings: Settings) -> list[ApiKey]:
    """The keys of ``GEMINI_PROXY_KEYS`` and of the keys file; a malformed one stops the command with
    one line naming the setting it came from (exit code 2)."""
    from gemini_proxy.upstream.keys import load_keys

    try:
        load_keys(settings.keys or None, None)
    except ValueError as exc:
        fail(f"GEMINI_PROXY_KEYS: {exc}")
    keys_file = settings.keys_file if settings.keys_file is not None and settings.keys_file.exists() else None
    try:
        return load_keys(settings.keys or None, keys_file)
    except (OSError, ValueError) as exc:
        fail(f"GEMINI_PROXY_KEYS_FILE: {exc}")


def configured_clients(settings: Settings) -> list[Client]:
    """The clients of ``GEMINI_PROXY_CLIENTS_FILE``; a bad file stops start-up with one line naming the entry."""
    from gemini_proxy.clients import load_clients

    if settings.clients_file is None:
        return []
    try:
        return load_clients(settings.clients_file)
    except OSError as exc:
        fail(f"GEMINI_PROXY_CLIENTS_FILE: cannot read {settings.clients_file}: {exc.strerror or exc}")
    except ValueError as exc:
        fail(f"GEMINI_PROXY_CLIENTS_FILE: {exc}")


def check_agents_file(settings: Settings) -> None:
    from gemini_proxy.agents.registry import AgentsFileError, load_agents

    try:
        load_agents(settings.agents_file)
    except AgentsFileError as exc:
        fail(f"GEMINI_PROXY_AGENTS_FILE: {exc}")


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def export_settings(overrides: dict[str, Any]) -> None:
    """Worker processes read settings from the environment: CLI flags are passed on that way."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"GEMINI_PROXY_{name.upper()}"] = str(value)


def print_banner(settings: Settings, *, demo: bool) -> None:
    base = f"http://{settings.host}:{settings.port}"
    if not demo:
        print(
            f"gemini-proxy {__version__} listening on {base} (dashboard: {base}/dashboard)", file=sys.stderr, flush=True
        )
        return
    tokens = sorted(settings.client_tokens)
    auth = f"      -H 'authorization: Bearer {tokens[0]}' \\\n" if tokens else ""
    print(
        f"""
  gemini-proxy {__version__} -- DEMO MODE
  Answers come from the built-in offline Gemini simulator with fake keys ({", ".join(DEMO_KEYS)}).
  No real Gemini is called. For real use, put your keys in secrets/gemini_tokens.txt and drop --demo.

  Proxy: {base}     OpenAI base URL: {base}/v1     Dashboard: {base}/dashboard

  Try it:
    curl -s {base}/v1/chat/completions -H 'content-type: application/json' \\
{auth}      -d '{{"model": "gemini-2.5-flash", "messages": [{{"role": "user", "content": "Hello!"}}]}}'
""",
        file=sys.stderr,
        flush=True,
    )


def run_uvicorn(settings: Settings) -> None:
    import functools

    import uvicorn

    from gemini_proxy.api.server import BoundedHttpToolsProtocol, ConnectionLimits, open_files_for
    from gemini_proxy.observability import setup_logging

    setup_logging(settings.log_level)
    open_files_for(settings.max_connections, settings.upstream_max_connections)  # inherited by the workers
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        max_connections=settings.max_connections,
        max_body_bytes=settings.max_request_bytes,
    )
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port,
        # uvloop; one worker accepts every waiting connection a turn instead of libuv's one
        # (api/accept.py). Workers sharing a socket keep libuv's way, which spreads a burst over them.
        "loop": "gemini_proxy.api.accept:GreedyLoop" if settings.workers == 1 else "uvloop",
        # uvicorn's httptools protocol with bounds on the request head and the connections (api/server.py).
        "http": functools.partial(BoundedHttpToolsProtocol, limits=limits),
        "access_log": settings.access_log, "log_config": None, "log_level": settings.log_level,
        "server_header": False, "timeout_graceful_shutdown": 10,
        # Client addresses are not used; trusting X-Forwarded-* would only let a client spoof one.
        "proxy_headers": False,
    }
    if settings.workers > 1:
        # The workers share their metrics through files in a folder of this process's own.
        with tempfile.TemporaryDirectory(prefix="gemini-proxy-metrics-") as shared:
            os.environ["GEMINI_PROXY_METRICS_DIR"] = shared
            uvicorn.run("gemini_proxy.app:create_app_from_env", factory=True, workers=settings.workers, **options)
    else:
        from gemini_proxy.app import create_app

        uvicorn.run(create_app(settings), **options)


@contextlib.contextmanager
def demo_simulator() -> Iterator[str]:
    """Starts the simulator in a child process on a free loopback port; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "gemini_proxy.cli", "fake-upstream", "--host", "127.0.0.1", "--port", str(port),
        "--keys", ",".join(DEMO_KEYS), "--chunk-delay", "0.02",
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                fail("the demo simulator did not start (see the lines above)")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                fail("the demo simulator did not start within 15 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()


def _die_with_parent() -> None:
    """In the child: ask Linux to end it when the proxy ends, even if the proxy is killed."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# fake-upstream ---------------------------------------------------------------------------------

def run_fake_upstream(args: argparse.Namespace) -> None:
    from gemini_proxy import simulator

    config = simulator.config_from_args(args)
    simulator.serve(config, host=args.host, port=args.port)


# keys check ------------------------------------------------------------------------------------

def run_keys_check(args: argparse.Namespace) -> None:
    """Validates every configured key (a models-list call each: no tokens spent) and updates key state."""
    import asyncio
    import functools

    from gemini_proxy.state import open_store
    from gemini_proxy.upstream.client import Egress, GeminiClient, make_connections
    from gemini_proxy.upstream.keycheck import check_keys, format_table
    from gemini_proxy.upstream.pool import KeyPool

    settings = settings_or_exit({})
    keys = configured_keys(settings)
    if not keys:
        fail("GEMINI_PROXY_KEYS: no Gemini API keys configured")
    try:
        proxy = settings.outbound_proxy()
    except ValueError as exc:
        fail(str(exc))

    async def check() -> list[Any]:
        store = await open_store(settings.db or None, settings.redis_url)
        pool = KeyPool(keys, store)
        await pool.start()
        make = functools.partial(
            make_connections,
            base_url=settings.upstream_url,
            connect_timeout=settings.connect_timeout,
            request_timeout=30,
        )
        egress = Egress(make, proxy)
        try:
            return await check_keys(GeminiClient(egress), keys, pool)
        finally:
            await egress.close()
            await pool.close()
            await store.close()

    results = asyncio.run(check())
    print(format_table(results))
    raise SystemExit(1 if any(r.status == "invalid" for r in results) else 0)


if __name__ == "__main__":
    main()
