"""`gemini-proxy serve --demo`: no key, no internet, and the banner's curl works as printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time

import httpx

from tests.servers import ServerProcess, cli, free_port, start_demo


def test_demo_banner_curl_works_as_printed() -> None:
    port = free_port()
    process = start_demo(port, capture_output=True)
    try:
        # Read the banner that was printed before the server came up.
        os.set_blocking(process.stdout.fileno(), False)  # type: ignore[union-attr]
        output = process.stdout.read() or ""  # type: ignore[union-attr]
        assert "DEMO MODE" in output
        match = re.search(r"^\s*(curl .*?)(?=\n\s*\n|\Z)", output, re.S | re.M)
        assert match, output
        command = match.group(1).replace("\\\n", " ")
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        reply = json.loads(result.stdout)
        assert reply["choices"][0]["message"]["content"] == "Simulated reply to turn 1: Hello!"
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["keys"]["configured"] == 3
        children = _children(process.pid)
        assert children, "the demo runs its simulator as a child process"
    finally:
        process.terminate()
        process.wait(15)
    # The simulator child is stopped with the demo.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_demo_with_two_workers_shares_agent_jobs() -> None:
    port = free_port()
    demo = ServerProcess(cli("serve", "--demo", "--workers", "2", "--port", str(port)), port=port).start(timeout=40)
    close = {"connection": "close"}  # fresh connections: the kernel spreads them over both workers
    try:
        ids = [
            httpx.post(demo.url + "/api/agents/delegate", json={"agent": "general", "task": "hi"}, headers=close)
            .json()["id"]
            for _ in range(6)
        ]
        # Whichever worker answers knows every job (in memory, each knew only its own).
        for job_id in ids * 2:
            assert httpx.get(f"{demo.url}/api/agents/status/{job_id}", headers=close).status_code == 200
    finally:
        demo.stop()
