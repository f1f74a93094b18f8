"""`gemini-proxy serve` start-up: bad settings stop it with one clear line and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess, cli, free_port, start_proxy


def run_serve(env: dict[str, str], *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    return subprocess.run(
        cli("serve", "--port", str(free_port()), *args),
        env={**clean, "GEMINI_PROXY_DB": "", **env},
        cwd=cwd or tempfile.mkdtemp(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("gemini-proxy: error: ") and setting in lines[0], lines[0]
    return lines[0]


def test_no_keys_outside_demo_mode() -> None:
    line = assert_one_line_error(run_serve({}), "GEMINI_PROXY_KEYS")
    assert "--demo" in line


def test_unreadable_keys_file(tmp_path: Path) -> None:
    assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS_FILE": str(tmp_path / "missing.txt")}), "GEMINI_PROXY_KEYS_FILE"
    )
    assert_one_line_error(run_serve({"GEMINI_PROXY_KEYS_FILE": str(tmp_path)}), "GEMINI_PROXY_KEYS_FILE")


@pytest.mark.parametrize("url", ["not a url", "ftp://example.test", "http://", "http://host:port"])
def test_malformed_upstream_url(url: str) -> None:
    assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_UPSTREAM_URL": url}), "GEMINI_PROXY_UPSTREAM_URL"
    )


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"GEMINI_PROXY_PORT": "70000"}, "GEMINI_PROXY_PORT"),
        ({"GEMINI_PROXY_PORT": "eighty"}, "GEMINI_PROXY_PORT"),
        ({"GEMINI_PROXY_RETRY_ATTEMPTS": "0"}, "GEMINI_PROXY_RETRY_ATTEMPTS"),
        ({"GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS": "0"}, "GEMINI_PROXY_UPSTREAM_MAX_CONNECTIONS"),
        ({"GEMINI_PROXY_MODEL_ALIASES": "gpt-4o"}, "GEMINI_PROXY_MODEL_ALIASES"),
        ({"GEMINI_PROXY_ANTHROPIC_MODELS": "sonnet"}, "GEMINI_PROXY_ANTHROPIC_MODELS"),
        ({"GEMINI_PROXY_LOG_LEVEL": "loud"}, "GEMINI_PROXY_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], setting: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    result = subprocess.run(
        cli("serve"),
        env={**clean, "GEMINI_PROXY_KEYS": "k", **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tempfile.mkdtemp(),
    )
    assert_one_line_error(result, setting)


def test_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
        result = subprocess.run(
            cli("serve", "--port", str(port)),
            env={**clean, "GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_DB": ""},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tempfile.mkdtemp(),
        )
    assert_one_line_error(result, "GEMINI_PROXY_PORT")


def test_public_bind_needs_client_tokens() -> None:
    line = assert_one_line_error(run_serve({"GEMINI_PROXY_KEYS": "k"}, "--host", "0.0.0.0"), "GEMINI_PROXY_HOST")
    assert "GEMINI_PROXY_AUTH_TOKENS" in line and "--insecure-no-auth" in line


def test_keys_file_and_env_are_merged_and_health_counts_them(simulator, tmp_path: Path) -> None:
    keys_file = tmp_path / "gemini_tokens.txt"
    keys_file.write_text("# my keys\n\nsim-key-1\nsim-key-2  # second\n")
    proxy = start_proxy(simulator.url, keys=["sim-key-3"], env={"GEMINI_PROXY_KEYS_FILE": str(keys_file)})
    try:
        health = httpx.get(proxy.url + "/health").json()
        assert health["status"] == "ok"
        assert health["keys"] == {"configured": 3, "available": 3}
        assert health["version"]
    finally:
        proxy.stop()


def test_health_does_not_call_upstream() -> None:
    # An upstream that does not exist: /health must still answer at once.
    proxy = start_proxy(f"http://127.0.0.1:{free_port()}")
    try:
        response = httpx.get(proxy.url + "/health", timeout=2)
        assert response.status_code == 200
        assert response.json()["keys"]["configured"] == 3
    finally:
        proxy.stop()


def test_dotenv_is_read_and_flags_override_it(simulator, tmp_path: Path) -> None:
    # .env in the working directory supplies keys; its bad log level is overridden by the flag.
    (tmp_path / ".env").write_text(
        "GEMINI_PROXY_KEYS=sim-key-1,sim-key-2,sim-key-3\nGEMINI_PROXY_LOG_LEVEL=loud\nGEMINI_PROXY_DB=\n"
        f"GEMINI_PROXY_UPSTREAM_URL={simulator.url}\n"
    )
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    process = subprocess.Popen(
        cli("serve", "--port", str(port), "--log-level", "warning"),
        env={**clean, "GEMINI_PROXY_KEYS_FILE": ""},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).json()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError("the proxy did not start")
        assert health["keys"]["configured"] == 3
    finally:
        process.terminate()
        process.wait(10)
    # Without the flag, the .env's bad value stops start-up and is named.
    result = run_serve({"GEMINI_PROXY_KEYS_FILE": ""}, cwd=str(tmp_path))
    assert_one_line_error(result, "GEMINI_PROXY_LOG_LEVEL")


@pytest.mark.parametrize("command", [["serve"], ["keys", "check"]])
def test_malformed_keys_name_their_setting_in_one_line(command: list[str], tmp_path: Path) -> None:
    # Two keys pasted with a space instead of a comma: one line naming the setting the keys came
    # from, exit code 2, and no traceback, from `serve` and `keys check` alike; the keys never shown.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("fake-key-one\nfake-key-two fake-key-three\n")
    for env, setting in (
        ({"GEMINI_PROXY_KEYS": "fake-key-one fake-key-two"}, "GEMINI_PROXY_KEYS"),
        ({"GEMINI_PROXY_KEYS_FILE": str(keys_file)}, "GEMINI_PROXY_KEYS_FILE"),
    ):
        result = subprocess.run(
            cli(*command, *(["--port", str(free_port())] if command == ["serve"] else [])),
            env={**clean, "GEMINI_PROXY_DB": "", **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        line = assert_one_line_error(result, setting)
        assert line.startswith(f"gemini-proxy: error: {setting}: ")
        assert "fake-key-two" not in result.stderr and "fake-key-three" not in result.stderr


def test_an_unknown_setting_is_named_with_the_closest_one() -> None:
    # A typo must not leave the proxy silently open: the tokens meant here are AUTH_TOKENS.
    result = run_serve({"GEMINI_PROXY_CLIENT_TOKENS": "tok-secret-typo"})
    warning = next(line for line in result.stderr.splitlines() if "warning" in line)
    assert warning == (
        "gemini-proxy: warning: GEMINI_PROXY_CLIENT_TOKENS is not a setting of gemini-proxy and is ignored;"
        " did you mean GEMINI_PROXY_AUTH_TOKENS?"
    )
    assert "tok-secret-typo" not in result.stderr  # a value may be a secret


def test_a_bad_clients_file_stops_start_up_naming_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text('{"clients": [{"name": "alice", "token": "tok-alice-1", "rpm": -1}]}', encoding="utf-8")
    line = assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_CLIENTS_FILE": str(path)}), "GEMINI_PROXY_CLIENTS_FILE"
    )
    assert "clients[0] (alice): rpm" in line and "tok-alice-1" not in line
    assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_CLIENTS_FILE": str(tmp_path / "missing.json")}),
        "GEMINI_PROXY_CLIENTS_FILE",
    )


def test_clients_from_the_file_allow_a_public_bind(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text('{"clients": [{"name": "alice", "token": "tok-alice-1"}]}', encoding="utf-8")
    env = {"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_CLIENTS_FILE": str(path)}
    # Past the bind check, start-up stops at the next one: the port is taken.
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GEMINI_PROXY_")}
        result = subprocess.run(
            cli("serve", "--host", "0.0.0.0", "--port", str(port)),
            env={**clean, "GEMINI_PROXY_DB": "", **env}, capture_output=True, text=True, timeout=30,
            cwd=tempfile.mkdtemp(),
        )  # fmt: skip
    assert_one_line_error(result, "GEMINI_PROXY_PORT")


# Runs the command after it with the open-file limit set to (soft, hard), as a service manager would.
LIMITED = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def open_files_soft_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


@pytest.mark.parametrize(("hard", "soft_after", "warned"), [(8192, 2048 + 2048 + 128, False), (1024, 1024, True)])
def test_serve_raises_its_open_file_limit_to_what_its_connections_need(
    hard: int, soft_after: int, warned: bool
) -> None:
    """Started with systemd's soft limit of 1,024 (or less), `serve` raises it to the default 2,048 client and
    2,048 upstream connections plus spare, as far as the hard limit allows, and warns when that is too low."""
    port = free_port()
    command = [sys.executable, "-c", LIMITED.format(soft=256, hard=hard), *cli("serve", "--port", str(port))]
    upstream = f"http://127.0.0.1:{free_port()}"  # nothing listens there: never Google
    env = {
        "GEMINI_PROXY_KEYS": "k",
        "GEMINI_PROXY_DB": "",
        "GEMINI_PROXY_LOG_LEVEL": "info",
        "GEMINI_PROXY_UPSTREAM_URL": upstream,
    }
    proxy = ServerProcess(command, port=port, env=env, cwd=tempfile.mkdtemp()).start()
    try:
        assert proxy.process is not None
        assert open_files_soft_limit(proxy.process.pid) == soft_after
        assert ("the open-file limit is 1024" in proxy.log()) is warned
    finally:
        proxy.stop()
