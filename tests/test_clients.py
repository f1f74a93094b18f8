"""Named clients: the clients file (validated, one clear error naming the entry, reloaded when it
changes) and the registry that resolves a token to its client by digest."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from gemini_proxy.clients import ADMIN, ClientRegistry, ClientsFileError, digest_of, load_clients
from gemini_proxy.filewatch import FileWatcher


def write(path: Path, clients: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"clients": clients}), encoding="utf-8")
    return path


def test_a_file_gives_named_clients_with_their_limits(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", [
        {"name": "alice", "token": "tok-alice-1", "rpm": 60, "max_concurrency": 2, "models": ["gemini-2.5-flash"]},
        {"name": "bob", "token": "tok-bob-22"},
        {"name": "carol", "token": "tok-carol-3", "disabled": True},
    ])  # fmt: skip
    alice, bob = load_clients(path)
    assert (alice.name, alice.rpm, alice.max_concurrency, alice.models, alice.tpm) == (
        "alice", 60, 2, ("gemini-2.5-flash",), None
    )
    assert alice.digest == digest_of("tok-alice-1") and "tok-alice-1" not in repr(alice)
    assert bob.name == "bob" and bob.rpm is None


@pytest.mark.parametrize(
    ("clients", "expected"),
    [
        ([{"name": "alice", "token": "tok-alice-1", "rpm": 0}], "clients[0] (alice): rpm:"),
        ([{"name": "alice", "token": "tok-alice-1", "rmp": 5}], "clients[0] (alice): rmp:"),
        ([{"name": "alice", "token": "tok-alice-1"}, {"name": "alice", "token": "tok-other-2"}],
         "clients[1] (alice): name: 'alice' is used by an earlier entry"),
        ([{"name": "a", "token": "tok-same-11"}, {"name": "b", "token": "tok-same-11"}],
         "clients[1] (b): token: the same token as an earlier entry"),
        ([{"name": "admin", "token": "tok-admin-1"}], "'admin' is reserved"),
        ([{"name": "has space", "token": "tok-space-1"}], "clients[0] (has space): name:"),
        ([{"name": "short", "token": "abc"}], "clients[0] (short): token:"),
    ],
)
def test_a_bad_entry_is_one_error_naming_it(tmp_path: Path, clients: list[dict[str, Any]], expected: str) -> None:
    with pytest.raises(ClientsFileError) as caught:
        load_clients(write(tmp_path / "c.json", clients))
    assert expected in str(caught.value)
    for entry in clients:
        assert entry["token"] not in str(caught.value)


def test_not_json_or_not_the_shape(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(ClientsFileError, match="not valid JSON"):
        load_clients(bad)
    bad.write_text('[{"name": "a"}]', encoding="utf-8")
    with pytest.raises(ClientsFileError, match='expected {"clients"'):
        load_clients(bad)


def test_the_registry_resolves_file_env_and_admin_tokens(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", [{"name": "alice", "token": "tok-alice-1"}])
    registry = ClientRegistry(["env-token-1", "tok-alice-1"], load_clients(path), admin_token="admin-tok-1")
    alice = registry.resolve("tok-alice-1")
    assert alice is not None and alice.name == "alice"  # a token in both: the file's named client
    env = registry.resolve("env-token-1")
    assert env is not None and env.name == f"token-{digest_of('env-token-1')[:8]}"
    assert registry.resolve("admin-tok-1") is ADMIN and ADMIN.admin
    assert registry.resolve("nobody-tok") is None
    assert registry.configured and registry.names() == sorted(["alice", env.name])
    assert not ClientRegistry().configured


def test_an_edited_file_is_taken_and_a_broken_one_keeps_the_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "c.json", [{"name": "alice", "token": "tok-alice-1"}])
    registry = ClientRegistry((), load_clients(path))
    watcher = FileWatcher(path, load_clients, registry.reload, what="clients file")
    write(path, [{"name": "alice", "token": "tok-alice-1"}, {"name": "bob", "token": "tok-bob-22"}])
    os.utime(path, ns=(1, 1))  # a new mtime even within the filesystem's time granularity
    with caplog.at_level(logging.INFO, "gemini_proxy"):
        assert watcher.check()
    bob = registry.resolve("tok-bob-22")
    assert bob is not None and bob.name == "bob"
    assert "tok-bob-22" not in caplog.text and "bob" in caplog.text
    path.write_text('{"clients": [{"name": "bob", "token": "x"}]}', encoding="utf-8")  # a bad token
    os.utime(path, ns=(2, 2))
    assert not watcher.check()
    assert registry.resolve("tok-bob-22") is not None  # the last good file stays in force
    write(path, [{"name": "alice", "token": "tok-alice-1"}])
    os.utime(path, ns=(3, 3))
    assert watcher.check() and registry.resolve("tok-bob-22") is None  # bob removed: his token stops working
