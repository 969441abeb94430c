#!/usr/bin/env bash
# Set up, then run the benchmarks (embedded servers unless DATABASE_URL / NATS_URL are set).
# Arguments go to `python -m bench`, e.g. `bash scripts/bench.sh --quick`, or
# `bash scripts/bench.sh --scenario projector-scaleout` (1, 2 and 4 projector instances).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m bench "$@"
