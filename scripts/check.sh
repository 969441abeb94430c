#!/usr/bin/env bash
# The whole check, as CI runs it: set up the virtualenv, then format, lint, types, import
# boundaries, the lock against the vendored advisory snapshot (no network, under a second) and
# the tests (against real PostgreSQL and NATS; embedded ones unless TEST_DATABASE_URL and
# TEST_NATS_URL are set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports
bash scripts/audit.sh --source snapshot
.venv/bin/pytest "$@"
