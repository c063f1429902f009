#!/usr/bin/env bash
# First step of `npm test`: make sure the Debian packages the tests use are installed —
# ffmpeg for the playback checks, iproute2/nftables/procps (ip, tc, nft, sysctl) for the network
# lab (tools/lab/lab.ts), and firmware/deps.txt for the firmware build and QEMU tests (and
# etcd-server, the real etcd the multi-machine control tests run on loopback).
# As root it installs what is missing with apt-get; otherwise it names the packages and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

wanted=(ffmpeg iproute2 nftables procps)
while read -r pkg _; do
  [ -n "$pkg" ] && wanted+=("$pkg")
done < <(grep -v '^[[:space:]]*#' firmware/deps.txt)

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "tiercast tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
