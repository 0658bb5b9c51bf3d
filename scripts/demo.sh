#!/usr/bin/env bash
# One command: set up the machine (idempotent) and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-machine.sh
npx tsc -p tsconfig.json
node build/scripts/demo.js
