#!/usr/bin/env bash
# The whole check, as CI runs it: set up the virtualenv, then format, lint, types, import
# boundaries, the lock against the vendored advisory snapshot (no network, under a second), the
# OpenAPI and AsyncAPI documents' linters and
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
# The published contracts: each OpenAPI document under Spectral's `spectral:oas` rules, the
# AsyncAPI document through its reference parser; any error fails. (schemathesis --checks all
# runs against each service in tests/fuzz.)
for service in attempts mastery notify; do
    node_modules/.bin/spectral lint --quiet --ruleset .spectral.yaml "docs/openapi/$service.json"
done
node scripts/parse-asyncapi.mjs docs/asyncapi.yaml
.venv/bin/pytest "$@"
