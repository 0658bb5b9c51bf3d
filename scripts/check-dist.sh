#!/usr/bin/env bash
# dist/ must be exactly what the sources build to.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run bundle >/dev/null
if ! git diff --quiet -- dist || [ -n "$(git ls-files --others --exclude-standard dist)" ]; then
  echo "dist/ does not match a fresh build of the sources; run 'npm run bundle' and commit dist/:" >&2
  git status --short dist >&2
  git diff --stat -- dist >&2
  exit 1
fi
echo "dist/ matches the sources"
