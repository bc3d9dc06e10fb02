#!/usr/bin/env bash
# Installs the node peers' one package (ws, pinned by tests/peers/package.json
# and package-lock.json) into DIR/node_modules, where DIR is a build
# directory's peers/ folder, never the source tree. Idempotent: when the
# pinned version is already there it only reads one file. Safe to run from
# two processes at once (a lock on DIR).
#
# Prints the node_modules directory on stdout, for NODE_PATH:
#     NODE_PATH=$(scripts/peer-deps.sh build/peers) node tests/peers/ws_server.js
#
# Usage: scripts/peer-deps.sh [DIR]   (default: build/peers)
# Exit status: 0, or 1 when node/npm are missing or npm cannot install.
set -euo pipefail
src=$(cd "$(dirname "$0")/../tests/peers" && pwd)
dir=${1:-$(dirname "$0")/../build/peers}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "peer-deps: $tool is not installed (scripts/deps.sh installs it)" >&2
        exit 1
    fi
done

want=$(sed -n 's/.*"ws": *"\([^"]*\)".*/\1/p' "$src/package.json")
installed() {
    [[ -f "$dir/node_modules/ws/package.json" ]] &&
        grep -q "\"version\": *\"$want\"" "$dir/node_modules/ws/package.json"
}

exec 9>"$dir/.lock"
flock -w 300 9 || { echo "peer-deps: $dir is locked by another install" >&2; exit 1; }
if ! installed; then
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    # --prefer-offline: npm's cache first, so a machine that installed once
    # reinstalls without the registry.
    if ! (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
        --fetch-retries=1 --fetch-retry-maxtimeout=5000 >"$dir/npm.log" 2>&1) || ! installed; then
        echo "peer-deps: npm could not install ws@$want into $dir (is the npm registry" >&2
        echo "  reachable? npm's own words are in $dir/npm.log); the node peers need it." >&2
        tail -n 5 "$dir/npm.log" | sed 's/^/  npm: /' >&2
        exit 1
    fi
fi
echo "$dir/node_modules"
