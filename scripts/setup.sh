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
# Message catalogs of the family emails and the family report
# (services/{notify,mastery}/locales/*/LC_MESSAGES/messages.po).
.venv/bin/pybabel -q compile -d services/notify/locales -D messages
.venv/bin/pybabel -q compile -d services/mastery/locales -D messages
# The family report's PDF (WeasyPrint) needs Pango and its fonts (Debian's packages).
if ! .venv/bin/python -c 'import weasyprint' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q libpango-1.0-0 \
                libpangoft2-1.0-0 fonts-dejavu-core >/dev/null; } \
            || echo "setup: could not install Pango; the family report's PDF will fail" >&2
    else
        echo "setup: WeasyPrint cannot load Pango (apt-get install libpango-1.0-0" \
            "libpangoft2-1.0-0, as root); the family report's PDF will fail" >&2
    fi
fi
# The email and family report screenshot tests render with a headless Chromium (Debian's package).
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
# tests/deploy validates deploy/compose.yaml with `docker-compose config` (Debian's package of
# Compose 1.29: no Docker daemon needed for `config`; PyPI's docker-compose 1.29.2 pins PyYAML<6
# and jsonschema<4 against the lock, and PyYAML 5.4.1 no longer builds from source here: Cython 3).
if ! command -v docker-compose >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q --no-install-recommends docker-compose >/dev/null \
            || { apt-get update -q >/dev/null \
            && apt-get install -y -q --no-install-recommends docker-compose >/dev/null; } \
            || echo "setup: could not install docker-compose; the compose file test will fail" >&2
    else
        echo "setup: docker-compose is missing (apt-get install docker-compose, as root);" \
            "the compose file test will fail" >&2
    fi
fi
# The alert rules test runs `promtool check rules` (Debian's prometheus package) where it is.
if ! command -v promtool >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q --no-install-recommends prometheus >/dev/null \
        || echo "setup: could not install promtool; the alert rules get the shape check only" >&2
fi
# The contract linters (Spectral, the AsyncAPI parser), pinned by package-lock.json.
if command -v npm >/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
    echo "setup: npm is missing; scripts/check.sh cannot lint the contracts" >&2
fi
