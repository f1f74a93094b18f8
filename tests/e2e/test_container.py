"""The Docker image and the compose file, as far as this machine can check them.

No Docker engine runs here (nor in CI), so the image is not built. What is checked instead is
what would break a ``docker run`` or ``docker compose up`` silently: a setting name the proxy
does not know (pydantic ignores it: the proxy would start with its default), paths that do not
meet, and the image's command and health check, run as the image runs them.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import yaml

from gemini_proxy.config import Settings
from tests.servers import ServerProcess, free_port, start_simulator

ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> dict[str, list[str]]:
    """Each instruction of the final stage, by name, with its joined arguments."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[dict[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        if name.upper() == "FROM":
            stages.append({})
        stages[-1].setdefault(name.upper(), []).append(" ".join(rest.split()))
    return stages[-1]


def image_env() -> dict[str, str]:
    return dict(pair.split("=", 1) for arg in dockerfile()["ENV"] for pair in shlex.split(arg))


def image_command(extra: list[str] | None = None) -> list[str]:
    instructions = dockerfile()
    return json.loads(instructions["ENTRYPOINT"][-1]) + (extra or json.loads(instructions["CMD"][-1]))


def healthcheck() -> list[str]:
    options, _, command = dockerfile()["HEALTHCHECK"][-1].partition("CMD ")
    assert "--timeout=" in options
    return list(json.loads(command))


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def settings_names() -> set[str]:
    return {f"GEMINI_PROXY_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_the_image_and_compose_set_is_one_the_proxy_knows() -> None:
    known = settings_names()
    named = {name for name in image_env() if name.startswith("GEMINI_PROXY_")}
    for service in compose()["services"].values():
        named |= set(service.get("environment", {}))
    example = [line.lstrip("# ") for line in (ROOT / ".env.example").read_text().splitlines()]
    named |= {line.split("=")[0] for line in example if line.startswith("GEMINI_")}
    assert named - known <= {"GEMINI_PROXY_PUBLISH"}  # compose's own: where the port is published
    assert {"GEMINI_PROXY_HOST", "GEMINI_PROXY_KEYS_FILE", "GEMINI_PROXY_DB"} <= named


def test_compose_wires_keys_redis_and_tokens() -> None:
    services = compose()["services"]
    proxy = services["proxy"]
    keys_file = Path(image_env()["GEMINI_PROXY_KEYS_FILE"])
    mounts = [volume.split(":") for volume in proxy["volumes"]]
    assert any(keys_file.parent == Path(target) and source == "./secrets" for source, target, *_ in mounts)
    redis_host = httpx.URL(proxy["environment"]["GEMINI_PROXY_REDIS_URL"]).host
    assert redis_host in services and "redis" in proxy["depends_on"]
    # The image listens on every interface, so compose refuses to start without client tokens.
    assert ":?" in proxy["environment"]["GEMINI_PROXY_AUTH_TOKENS"]
    assert services["demo"]["profiles"] == ["demo"] and services["demo"]["ports"] == ["127.0.0.1:8080:8080"]
    assert {"pyproject.toml", "requirements.lock", "README.md", "src/"} <= {
        line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }


def run_as_image(env: dict[str, str], extra: list[str] | None = None) -> tuple[ServerProcess, dict[str, str]]:
    """The image's command with the image's settings; its paths moved under a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="image-"))
    settings = image_env()
    for name in ("GEMINI_PROXY_KEYS_FILE", "GEMINI_PROXY_DB"):
        settings[name] = str(root / settings[name].lstrip("/"))
        Path(settings[name]).parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings["GEMINI_PROXY_PORT"] = str(port)
    command = image_command(extra)
    assert command[0] == "gemini-proxy"
    args = [sys.executable, "-m", "gemini_proxy.cli", *command[1:]]
    return ServerProcess(args, port=port, env={**settings, **env}, cwd=str(root)), settings


def test_the_image_command_serves_and_its_health_check_follows_it() -> None:
    sim = start_simulator()
    server, settings = run_as_image(
        {"GEMINI_PROXY_AUTH_TOKENS": "test-client-token", "GEMINI_PROXY_UPSTREAM_URL": sim.url}
    )
    Path(settings["GEMINI_PROXY_KEYS_FILE"]).write_text("sim-key-1\nsim-key-2\n")
    check_env = {**os.environ, "GEMINI_PROXY_PORT": settings["GEMINI_PROXY_PORT"]}
    try:
        server.start()
        r = httpx.post(
            server.url + "/v1/chat/completions", headers={"authorization": "Bearer test-client-token"},
            json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}, timeout=10,
        )
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
        assert httpx.get(server.url + "/v1/models", timeout=5).status_code == 401  # no token, no answer
        assert Path(settings["GEMINI_PROXY_DB"]).exists()  # key state in the image's data volume
        assert subprocess.run(healthcheck(), env=check_env, timeout=10).returncode == 0
    finally:
        server.stop()
        sim.stop()
    assert subprocess.run(healthcheck(), env=check_env, capture_output=True, timeout=10).returncode != 0


def test_the_image_refuses_to_start_without_client_tokens() -> None:
    server, _ = run_as_image({"GEMINI_PROXY_KEYS": "sim-key-1"})
    done = subprocess.run(server.args, env=server.env, cwd=server.cwd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "GEMINI_PROXY_HOST: refusing to bind 0.0.0.0 without client tokens" in done.stderr + done.stdout


def test_the_demo_service_command_starts_the_offline_demo() -> None:
    extra = compose()["services"]["demo"]["command"]
    server, _ = run_as_image({}, extra)
    try:
        server.start(timeout=30)
        r = httpx.post(server.url + "/v1/chat/completions", timeout=10,
                       json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
    finally:
        server.stop()
