#!/usr/bin/env bash
# Installs gemini-proxy in a virtualenv and runs it in offline demo mode (no key, no internet).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements.lock -e .
exec .venv/bin/gemini-proxy serve --demo "$@"
