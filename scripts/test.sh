#!/usr/bin/env bash
# One command: set up the machine (idempotent) and run every test (unit, then integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
npm test
