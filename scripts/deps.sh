#!/usr/bin/env bash
# Installs the Debian 12 packages rtlab needs to build, test and benchmark.
# Idempotent: when everything is present it only runs dpkg-query and exits.
# Usage: scripts/deps.sh [--bench]   (--bench adds wrk, nginx and nginx's nchan module)
# node and npm run the WebSocket interop peers (tests/peers/*.js; their ws
# package comes from scripts/peer-deps.sh): Debian's are installed only when
# no node or npm is on PATH, so a newer one installed otherwise is kept.
# gnuplot-nox renders `rtlab plot`'s figures (PNG through cairo, and SVG).
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config libuv1-dev libcjson-dev zlib1g-dev
      libcmocka-dev curl python3 python3-websockets gnuplot-nox)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    pkgs+=(nodejs npm)
fi
if [[ "${1:-}" == "--bench" ]]; then
    pkgs+=(wrk nginx libnginx-mod-nchan)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
