"""The recorded payloads are the ones their READMEs describe: every file listed, size and hash unchanged."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import GEMINI_FIXTURES, OPENAI_FIXTURES, SPECS

ROOT = Path(__file__).resolve().parent.parent
ENTRY = re.compile(
    r"^### `([^`]+)`\n(?:(?!### ).*\n)*?- how copied: [^\n]*?(\d+) bytes, sha256 prefix `([0-9a-f]+)`", re.M
)


def entries(folder: Path) -> dict[str, tuple[int, str]]:
    text = (folder / "README.md").read_text()
    return {name: (int(size), prefix) for name, size, prefix in ENTRY.findall(text)}


@pytest.mark.parametrize("folder", [GEMINI_FIXTURES, OPENAI_FIXTURES, SPECS], ids=lambda p: p.name)
def test_every_file_is_described_and_unchanged(folder: Path) -> None:
    described = entries(folder)
    files = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "README.md"}
    assert files == set(described), "each file has a README entry, and each entry a file"
    for name, (size, prefix) in described.items():
        data = (folder / name).read_bytes()
        assert len(data) == size, name
        assert hashlib.sha256(data).hexdigest().startswith(prefix), name


def test_nothing_in_the_repository_points_outside_it() -> None:
    # A fresh clone has nothing beside it: no file may name the folder that sits beside the build
    # machine's checkout, nor an absolute path of that machine.
    outside = ["../" + "shared", "/work" + "/", "GEMINI_PROXY_" + "SHARED_DIR", "protocol" + "-notes"]
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    offenders = []
    for name in tracked.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        text = path.read_bytes().decode(errors="replace")
        offenders += [f"{name}: {needle}" for needle in outside if needle in text]
    assert not offenders
