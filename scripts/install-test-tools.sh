#!/usr/bin/env bash
# Debian tools the tests drive as real programs: Prometheus and promtool (observability tests).
# Installed as root with apt-get when missing; a package's service is kept from starting (policy-rc.d),
# since the tests start their own on 127.0.0.1 and stop it by process id.
set -euo pipefail

missing=()
# The prometheus package brings both programs.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then missing+=(prometheus); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: ${missing[*]} missing and cannot be installed here (not root or no apt-get);" \
    "the tests that need them will fail" >&2
  exit 0
fi
echo "installing ${missing[*]} (apt-get)"
policy=/usr/sbin/policy-rc.d
had_policy=0
if [ -e "$policy" ]; then had_policy=1; fi
if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"; fi
trap 'if [ $had_policy = 0 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
