#!/usr/bin/env bash
# The fault experiments of tests/faults with a larger load, on embedded servers of their own
# (loopback only): kill -9 each service twice, restart PostgreSQL immediately, kill nats-server,
# stop the SMTP sink, hold a consumer that never acks; then a table of what was accepted, stored,
# changed and emailed, and whether the system recovered by itself.
#   bash scripts/chaos.sh [--attempts 8000] [--students 200] [--rate 100] [--recover-within 180]
#                         [--only kill-mastery nats-kill ...] [--keep DIR]
# Exits 1 if an experiment did not recover by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python -m tests.faults.chaos "$@"
