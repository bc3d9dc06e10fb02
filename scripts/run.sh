#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the tour.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec scripts/tour.sh build/rtlab
