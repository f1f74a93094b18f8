"""The admin API for clients (``/api/clients``, issue 15): an operator adds, changes, disables and
removes clients at run time; they are kept in the state store, survive a restart, and apply on
every replica. Tokens are never shown but the one the proxy makes, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import openai
import pytest

from tests.inprocess import Local, LocalServer
from tests.servers import ServerProcess, replicas_on_redis, start_proxy, until

ALICE, ADMIN = "tok-alice-0001", "tok-admin-0003"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def clients_file(directory: Path) -> Path:
    path = directory / "clients.json"
    path.write_text(json.dumps({"clients": [{"name": "alice", "token": ALICE}]}), encoding="utf-8")
    return path


def chat(proxy: LocalServer | ServerProcess, token: str) -> int:
    return proxy.http.post("/v1/chat/completions", json=CHAT, headers=auth(token)).status_code


def admin(proxy: LocalServer | ServerProcess, method: str, path: str, body: Any = None) -> httpx.Response:
    return proxy.http.request(method, "/api/clients" + path, json=body, headers=auth(ADMIN))


@pytest.fixture
def proxy(portal: anyio.from_thread.BlockingPortal, tmp_path: Path) -> Any:
    local = Local(portal)
    try:
        yield local.proxy(local.simulator(), clients_file=clients_file(tmp_path), admin_token=ADMIN)
    finally:
        local.close()


def test_an_added_client_is_served_limited_changed_disabled_and_removed(proxy: LocalServer) -> None:
    added = admin(proxy, "POST", "", {"name": "bob", "rpm": 1, "models": ["gemini-2.5-flash"]})
    assert added.status_code == 201, added.text
    token = added.json()["token"]  # made by the proxy, shown this once
    assert len(token) >= 32 and added.json()["client"]["limits"] == {"rpm": 1, "models": ["gemini-2.5-flash"]}
    sdk = openai.OpenAI(base_url=proxy.url + "/v1", api_key=token, http_client=proxy.http, max_retries=0)
    answer = sdk.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    with pytest.raises(openai.RateLimitError, match="'bob' is over its limit of 1 requests per minute"):
        sdk.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])

    listed = admin(proxy, "GET", "")
    assert listed.status_code == 200
    entries = {entry["name"]: entry for entry in listed.json()["clients"]}
    assert entries["alice"]["source"] == "file" and entries["bob"]["source"] == "api"
    assert entries["bob"]["usage"]["requests"] >= 1 and entries["bob"]["disabled"] is False
    assert token not in listed.text and ALICE not in listed.text

    changed = admin(proxy, "PATCH", "/bob", {"rpm": None, "tpm": 1000000})
    assert changed.status_code == 200 and changed.json()["client"]["limits"]["tpm"] == 1000000
    assert "rpm" not in changed.json()["client"]["limits"] and "token" not in changed.json()
    assert chat(proxy, token) == 200  # no rpm now

    assert admin(proxy, "PATCH", "/bob", {"disabled": True}).status_code == 200
    assert chat(proxy, token) == 401
    assert admin(proxy, "GET", "/bob").json()["client"]["disabled"] is True
    assert admin(proxy, "PATCH", "/bob", {"disabled": False}).status_code == 200
    assert chat(proxy, token) == 200

    assert admin(proxy, "DELETE", "/bob").json() == {"name": "bob", "deleted": True}
    assert chat(proxy, token) == 401
    assert admin(proxy, "GET", "/bob").status_code == 404
    assert chat(proxy, ALICE) == 200  # the file's client was never affected


def test_bad_requests_name_the_field_and_only_the_admin_may_ask(proxy: LocalServer) -> None:
    for body, field in (
        ({"name": "bad name!"}, "name"),
        ({"name": "carol", "rpm": 0}, "rpm"),
        ({"name": "carol", "token": "short"}, "token"),
        ({"name": "carol", "rmp": 5}, "rmp"),
    ):
        refused = admin(proxy, "POST", "", body)
        assert refused.status_code == 400 and refused.json()["error"]["message"].startswith(f"'{field}'"), refused.text
    given = admin(proxy, "POST", "", {"name": "carol", "token": "carol-own-token-1"})
    assert given.status_code == 201 and "token" not in given.json()  # a token the admin chose is not echoed
    assert chat(proxy, "carol-own-token-1") == 200
    for body, why in (
        ({"name": "carol"}, "exists"),
        ({"name": "alice"}, "in the clients file"),
        ({"name": "dave", "token": ALICE}, "already a client's"),
        ({"name": "dave", "token": "carol-own-token-1"}, "already another client's"),
        ({"name": "admin"}, "reserved"),
    ):
        refused = admin(proxy, "POST", "", body)
        assert refused.status_code == 409 and why in refused.json()["error"]["message"], refused.text
        assert ALICE not in refused.text
    assert admin(proxy, "PATCH", "/alice", {"rpm": 5}).status_code == 409  # edited in its file
    assert admin(proxy, "DELETE", "/alice").status_code == 409
    assert admin(proxy, "DELETE", "/nobody").status_code == 404
    assert admin(proxy, "PATCH", "/carol", {"rpm": "fast"}).json()["error"]["message"].startswith("'rpm'")
    for token in (ALICE, "carol-own-token-1", None):
        headers = auth(token) if token else {}
        assert proxy.http.get("/api/clients", headers=headers).status_code == 401


def test_added_clients_survive_a_restart(sim: ServerProcess, tmp_path: Path) -> None:
    env = {"GEMINI_PROXY_DB": str(tmp_path / "state.db"), "GEMINI_PROXY_ADMIN_TOKEN": ADMIN}
    first = start_proxy(sim.url, env=env)
    try:
        token = admin(first, "POST", "", {"name": "bob", "tpm": 500000}).json()["token"]
        assert chat(first, token) == 200
    finally:
        first.stop()
    again = start_proxy(sim.url, env=env)
    try:
        assert chat(again, token) == 200
        assert chat(again, "not-a-client-token") == 401  # clients are configured now
        entry = admin(again, "GET", "/bob").json()["client"]
        assert entry["limits"] == {"tpm": 500000} and entry["source"] == "api"
    finally:
        again.stop()


def test_a_client_added_on_one_replica_is_served_by_the_other(sim: ServerProcess, tmp_path: Path) -> None:
    env = {"GEMINI_PROXY_ADMIN_TOKEN": ADMIN}
    with replicas_on_redis(sim.url, tmp_path, env=env) as (_, one, two):
        token = admin(one, "POST", "", {"name": "bob"}).json()["token"]
        assert until(lambda: chat(two, token) == 200)
        assert admin(two, "PATCH", "/bob", {"disabled": True}).status_code == 200
        assert until(lambda: chat(one, token) == 401), admin(one, "GET", "/bob").text
        assert admin(one, "DELETE", "/bob").status_code == 200
        assert admin(two, "GET", "/bob").status_code in (200, 404)  # within 2 s the other one reads it
        assert until(lambda: admin(two, "GET", "/bob").status_code == 404)
