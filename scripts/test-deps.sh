#!/usr/bin/env bash
# First step of `npm test`: make sure the Debian packages the tests use are installed.
# As root it installs what is missing with apt-get; otherwise it names the packages and stops.
set -euo pipefail

# command -> Debian package that provides it
declare -A NEED=(
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
  echo "tiercast tests need these Debian packages: ${pkgs[*]}" >&2
  echo "install them with: sudo apt-get install --no-install-recommends ${pkgs[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
