"""The JavaScript clients and agent CLIs the e2e tests drive, installed by ``scripts/test.sh``.

``package.json`` pins them; ``npm ci`` puts them in ``tests/npm/node_modules``. A test that needs
one calls :func:`tool` or :data:`NODE_MODULES`; a missing install fails the test with the command
that fixes it, never skips it.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"


def tool(name: str) -> Path:
    """The path of an installed CLI (``claude``, ``codex``, ``gemini``)."""
    path = NODE_MODULES / ".bin" / name
    if not path.exists():
        raise RuntimeError(
            f"{name} is not installed: run `(cd tests/npm && npm ci)` or ./scripts/test.sh"
        )
    return path
