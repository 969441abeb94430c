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
# Message catalogs of the family emails (services/notify/locales/*/LC_MESSAGES/messages.po).
.venv/bin/pybabel -q compile -d services/notify/locales -D messages
# The email screenshot test renders with a headless Chromium (Debian's package).
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null \
            && apt-get install -y -q chromium >/dev/null; } \
            || echo "setup: could not install chromium; the email screenshot test will skip" >&2
    else
        echo "setup: chromium is missing (apt-get install chromium, as root);" \
            "the email screenshot test will skip" >&2
    fi
fi
# The contract linters (Spectral, the AsyncAPI parser), pinned by package-lock.json.
if command -v npm >/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
    echo "setup: npm is missing; scripts/check.sh cannot lint the contracts" >&2
fi
