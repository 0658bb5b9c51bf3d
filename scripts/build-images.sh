#!/usr/bin/env bash
# Offline image builder: Debian packages -> debootstrap rootfs -> `docker import`.
# Builds the router and peer images under the tags the action looks for
# (nat-net-<kind>:<first 12 hex of sha256(images/<kind>/packages.txt)>), skipping any
# image that already exists. Needs root, debootstrap and a running Docker engine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mirror=${NAT_NET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${NAT_NET_IMAGE_CACHE:-/var/cache/nat-net}
kinds=${*:-router peer}

image_tag() { echo "nat-net-$1:$(sha256sum "$here/images/$1/packages.txt" | cut -c1-12)"; }

build_one() {
  local kind=$1 tag rootfs pkgs
  tag=$(image_tag "$kind")
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag: present"; return 0
  fi
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; return 1; }
  pkgs=$(grep -v '^#' "$here/images/$kind/packages.txt" | xargs | tr ' ' ',')
  rootfs="$cache/rootfs-$kind-$$"
  rm -rf "$rootfs"; mkdir -p "$cache/debs-$kind"
  echo "$tag: debootstrap ($pkgs)"
  debootstrap --variant=minbase --include="$pkgs" --cache-dir="$cache/debs-$kind" \
    bookworm "$rootfs" "$mirror" >"$cache/debootstrap-$kind.log" 2>&1 \
    || { tail -20 "$cache/debootstrap-$kind.log" >&2; rm -rf "$rootfs"; return 1; }
  # Keep the image small: no package lists or caches inside.
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"* \
         "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/locale"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL dev.nat-net.tool=nat-net' \
    - "$tag" >/dev/null
  rm -rf "$rootfs"
  echo "$tag: built"
}

pids=()
for kind in $kinds; do build_one "$kind" & pids+=($!); done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
exit $rc
