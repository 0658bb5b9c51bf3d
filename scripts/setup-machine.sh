#!/usr/bin/env bash
# Idempotent machine set-up for the demo, the tests and CI: a Docker engine (installs
# docker.io and starts dockerd when none answers), the offline images, npm packages.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "setup: installing docker.io"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd (log: /var/log/nat-net-dockerd.log)"
    as_root sh -c 'nohup dockerd >/var/log/nat-net-dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/nat-net-dockerd.log" >&2; tail -20 /var/log/nat-net-dockerd.log >&2; exit 1; }
  fi
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  # Only needed when an image is missing; cheap to check first.
  for kind in router peer; do
    tag="nat-net-$kind:$(sha256sum "images/$kind/packages.txt" | cut -c1-12)"
    if ! docker image inspect "$tag" >/dev/null 2>&1; then
      echo "setup: installing debootstrap"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
      break
    fi
  done
fi
as_root bash scripts/build-images.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
