#!/usr/bin/env bash
# Set up, then run the whole system (embedded servers unless DATABASE_URL / NATS_URL / SMTP_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mastery dev "$@"
