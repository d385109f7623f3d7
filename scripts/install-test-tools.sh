#!/usr/bin/env bash
# Debian tools the tests drive as real programs: Prometheus and promtool (observability tests);
# podman with runc (builds and runs the image), debootstrap (its local base image), nginx (balances
# the API replicas) and docker-compose (validates the compose files) for the deployment tests.
# Installed as root with apt-get when missing; a package's service is kept from starting (policy-rc.d),
# since the tests start their own on 127.0.0.1 and stop it by process id.
set -euo pipefail

have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
missing=()
# The prometheus package brings both programs.
if ! have prometheus || ! have promtool; then missing+=(prometheus); fi
for tool in podman runc debootstrap nginx docker-compose; do
  if ! have "$tool"; then missing+=("$tool"); fi
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: ${missing[*]} missing and cannot be installed here (not root or no apt-get);" \
    "the tests that need them will fail or be skipped" >&2
  exit 0
fi
echo "installing ${missing[*]} (apt-get)"
policy=/usr/sbin/policy-rc.d
had_policy=0
if [ -e "$policy" ]; then had_policy=1; fi
if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"; fi
trap 'if [ $had_policy = 0 ]; then rm -f "$policy"; fi' EXIT
apt=(apt-get -o DPkg::Lock::Timeout=300)
"${apt[@]}" update -qq
# Without recommends: docker-compose would pull in the Docker engine, podman a desktop's worth.
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
