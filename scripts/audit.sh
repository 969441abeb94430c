#!/usr/bin/env bash
# Audit the locked dependencies against an advisory database: pip-audit asks PyPI's JSON API
# (default) or OSV (`-s osv`) about each pin of requirements.lock (or of `-r FILE` given here).
# Exit 1 on any known vulnerability, and also on any pin it could not audit (--strict): an
# audit that silently skipped a dependency must not pass. Needs the network; not part of
# scripts/check.sh, so CI does not fail when an advisory service is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-audit ] || bash scripts/setup.sh
has_requirement=no
for arg in "$@"; do
    case "$arg" in -r|--requirement|-r*|--requirement=*) has_requirement=yes ;; esac
done
requirement=()
[ "$has_requirement" = yes ] || requirement=(--requirement requirements.lock)
# --no-deps: the lock pins every package already; --disable-pip: nothing is installed to audit.
exec .venv/bin/pip-audit "${requirement[@]}" --no-deps --disable-pip --strict \
    --progress-spinner off "$@"
