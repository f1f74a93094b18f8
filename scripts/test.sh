#!/usr/bin/env bash
# Installs everything the test suite needs (system packages, a virtualenv with the pinned
# dependencies) and runs the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: redis-server for the shared-state tests, wrk for the benchmark's smoke test,
# curl for the tests that run the README's curl examples, chromium for the dashboard's browser
# tests (Playwright drives Debian's build; it downloads no browser of its own), tinyproxy (a
# forward proxy) for the outbound proxy tests.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v tinyproxy >/dev/null || missing+=(tinyproxy-bin)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements.lock -e '.[test]'
# instructor in its own virtualenv: its releases pin a jiter the openai SDK above cannot use
# (tests/instructor_env/requirements.lock); reinstalled only when that lock changes.
[ -x .venv-instructor/bin/python ] || "$PYTHON" -m venv .venv-instructor
if ! cmp -s tests/instructor_env/requirements.lock .venv-instructor/.installed-lock 2>/dev/null; then
  .venv-instructor/bin/python -m pip install -q -r tests/instructor_env/requirements.lock
  cp tests/instructor_env/requirements.lock .venv-instructor/.installed-lock
fi
# The JavaScript SDKs and agent CLIs (Claude Code, Codex, Gemini CLI) the e2e tests drive, at the
# versions tests/npm/package-lock.json pins; reinstalled only when the lock changes.
if ! cmp -s tests/npm/package-lock.json tests/npm/node_modules/.installed-lock 2>/dev/null; then
  (cd tests/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp tests/npm/package-lock.json tests/npm/node_modules/.installed-lock
fi
exec .venv/bin/python -m pytest -n auto "$@"
