"""The recorded payloads are the ones their READMEs describe: every file listed, size and hash unchanged."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.fixtures import FIXTURES, GEMINI_FIXTURES, OPENAI_FIXTURES, SPECS

ENTRY = re.compile(r"^### `([^`]+)`\n(?:(?!### ).*\n)*?- how copied: [^\n]*?(\d+) bytes, sha256 prefix `([0-9a-f]+)`", re.M)


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


def test_the_readmes_point_only_inside_the_repository() -> None:
    for readme in FIXTURES.rglob("README.md"):
        text = readme.read_text()
        assert "../shared" not in text and "/work/" not in text and "research/" not in text, readme
