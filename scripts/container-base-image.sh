#!/usr/bin/env bash
# The local base image the container tests build on, where no registry can be reached: Debian
# bookworm with Python 3.11, made by debootstrap from the mirror apt already uses and imported into
# podman as localhost/debian-python:bookworm. The root file system is cached as a tarball
# (PURPOSE_AGENT_CACHE, else ~/.cache/purpose-agent), so it is made once per machine (60-100 s).
# Prints the image's name. Needs root, podman and debootstrap (scripts/install-container-tools.sh).
set -euo pipefail
IMAGE=${BASE_IMAGE:-localhost/debian-python:bookworm}
CACHE=${PURPOSE_AGENT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/purpose-agent}
TARBALL="$CACHE/debian-python-bookworm.tar"

if podman image exists "$IMAGE"; then echo "$IMAGE"; exit 0; fi

mirror() {
  # deb822 sources first (Debian 12), then the one-line format.
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if [ ! -s "$TARBALL" ]; then
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "making the base image with debootstrap from $(mirror) (once; 60-100 s)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "error: debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
  # What an image does not need: apt's package lists and caches, documentation.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -cf "$TARBALL.partial" . && mv "$TARBALL.partial" "$TARBALL"
fi
podman import --quiet "$TARBALL" "$IMAGE" >/dev/null
echo "$IMAGE"
