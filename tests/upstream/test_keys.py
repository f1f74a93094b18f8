"""ApiKey masking, the keys-file format, load_keys merging and the keys-file watcher."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from gemini_proxy.upstream.keys import ApiKey, KeysFileWatcher, load_keys, parse_keys

SECRET = "test-key-1-verysecretvalue"


def test_repr_and_str_masked() -> None:
    key = ApiKey(SECRET)
    expected_id = hashlib.sha256(SECRET.encode()).hexdigest()[:6] + "...alue"
    assert key.short_id == expected_id
    for text in (repr(key), str(key), f"{key}", repr([key]), repr({"k": key})):
        assert SECRET not in text
        assert expected_id in text
    assert repr(key) == f"ApiKey({expected_id})"


def test_label_is_short_id() -> None:
    key = ApiKey(SECRET, label="work-1", project="proj-a")
    assert key.short_id == "work-1"
    assert repr(key) == "ApiKey(work-1)"
    assert SECRET not in repr(key)


def test_fingerprint_changes_with_line() -> None:
    a = ApiKey(SECRET, label="w")
    assert a.fingerprint == ApiKey(SECRET, label="w").fingerprint
    assert a.fingerprint != ApiKey(SECRET, label="w", project="p").fingerprint
    assert a.fingerprint != ApiKey(SECRET + "x", label="w").fingerprint
    assert SECRET not in a.fingerprint


def test_parse_keys_formats() -> None:
    text = """
# a comment
test-key-1

   test-key-2   name=work-2 project=proj-a   # trailing comment
AQ.test-key-3 label=other
test-key-1 name=dup-ignored
test-key-4 project=proj-a
    # indented comment
"""
    keys = parse_keys(text)
    assert keys == [
        ApiKey("test-key-1"),
        ApiKey("test-key-2", "work-2", "proj-a"),
        ApiKey("AQ.test-key-3", "other"),
        ApiKey("test-key-4", None, "proj-a"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("test-key-1 colour=blue", "unknown attribute 'colour'"),
        ("test-key-1 name", "expected name=value"),
        ("test-key-1 name=a\ntest-key-2 name=a", "share the id 'a'"),
        ("test-key-1 second-secret-key", "two keys on one line"),
        ("test-key-1 AQ.second-secret=key", "unknown attribute \\(use"),
    ],
)
def test_parse_keys_errors_name_line_not_secret(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_keys(text)
    assert "test-key-1" not in str(info.value) and "second-secret" not in str(info.value)


def test_a_key_s_own_outbound_proxy() -> None:
    keys = parse_keys(
        "test-key-1 proxy=http://egress:test-pass@10.0.0.2:3128\ntest-key-2 proxy=DIRECT\ntest-key-3\n"
    )
    assert [(key.proxy, key.egress) for key in keys] == [
        ("http://egress:test-pass@10.0.0.2:3128", "http://10.0.0.2:3128"),
        ("direct", "direct"),
        (None, None),
    ]
    assert "test-pass" not in repr(keys[0])
    moved = parse_keys("test-key-1 proxy=http://egress:test-pass@10.0.0.3:3128")[0]
    assert moved.fingerprint != keys[0].fingerprint, "a key moved to another proxy is a changed line"
    with pytest.raises(ValueError, match="line 1: proxy=: an outbound proxy must be an http:// URL") as bad:
        parse_keys("test-key-1 proxy=https://egress:test-pass@10.0.0.2:3128")
    assert "test-pass" not in str(bad.value)


def test_load_keys_merges_env_and_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("test-key-1 name=a\ntest-key-2\n")
    keys = load_keys(" test-key-3 name=c , test-key-1,,test-key-4 ", path)
    assert [k.secret for k in keys] == ["test-key-1", "test-key-2", "test-key-3", "test-key-4"]
    assert keys[0].label == "a" and keys[2].label == "c"
    assert load_keys(None, None) == []
    assert load_keys("test-key-9", None) == [ApiKey("test-key-9")]
    assert load_keys("test-key-9", tmp_path / "missing.txt") == [ApiKey("test-key-9")]  # created later


class Sink:
    def __init__(self) -> None:
        self.calls: list[list[ApiKey]] = []

    def update_keys(self, keys: Sequence[ApiKey]) -> None:
        self.calls.append(list(keys))


def _touch(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_watcher_reloads_on_change(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.txt"
    path.write_text("test-key-1\n")
    sink = Sink()
    watcher = KeysFileWatcher(path, sink, env_value="test-key-env")
    assert watcher.check() is False  # unchanged since construction
    _touch(path, "test-key-1\ntest-key-2\n", 1)
    assert watcher.check() is True
    assert [k.secret for k in sink.calls[-1]] == ["test-key-1", "test-key-2", "test-key-env"]
    assert watcher.check() is False
    _touch(path, "test-key-1 bogus=1\n", 2)  # a bad file keeps the current keys
    assert watcher.check() is False
    path.unlink()  # vanished (editor rename): keeps the current keys
    assert watcher.check() is False
    _touch(path, "test-key-5\n", 3)
    assert watcher.check() is True
    assert [k.secret for k in sink.calls[-1]] == ["test-key-5", "test-key-env"]
    assert len(sink.calls) == 2
    assert "test-key-" not in caplog.text


async def test_watcher_task_polls(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "keys.txt"
    path.write_text("test-key-1\n")
    sink = Sink()
    watcher = KeysFileWatcher(path, sink, interval=0.02)
    await watcher.start()
    _touch(path, "test-key-2\n", 1)
    for _ in range(100):
        if sink.calls:
            break
        await asyncio.sleep(0.01)
    await watcher.close()
    assert [k.secret for k in sink.calls[0]] == ["test-key-2"]
