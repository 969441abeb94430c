#!/usr/bin/env bash
# Audit the locked dependencies (or `-r FILE`) against an advisory database: PyPI or OSV through
# pip-audit when they answer, else the vendored snapshot of the PyPA advisory database in
# scripts/advisories (`--source auto|pypi|osv|snapshot`; see devtools/audit.py). Exit 1 on any
# known vulnerability and on any pin that could not be checked.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pip-audit ] || bash scripts/setup.sh
exec .venv/bin/python -m devtools.audit "$@"
