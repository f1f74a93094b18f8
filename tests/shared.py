"""Where the shared reference material lives: ``shared/`` beside the repository's folder."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GEMINI_PROXY_SHARED_DIR", ROOT.parent / "shared"))
GEMINI_FIXTURES = SHARED / "gemini-fixtures"
OPENAI_FIXTURES = SHARED / "openai-fixtures"
SPECS = SHARED / "specs"

if not GEMINI_FIXTURES.is_dir():
    raise RuntimeError(f"the shared fixtures are missing: expected {GEMINI_FIXTURES} (set GEMINI_PROXY_SHARED_DIR)")
