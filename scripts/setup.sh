#!/usr/bin/env bash
# Create .venv with the project, its development tools and the bench's extras (mypy checks
# bench/ against them), pinned by requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e '.[dev,bench]'
