#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite twice:
# a normal build (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer
# build (build-asan/). Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

echo "== build (-Wall -Wextra -Werror)"
scripts/build.sh build
echo "== build with ASan + UBSan"
scripts/build.sh build-asan -DRTLAB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

echo "== tests"
ctest --test-dir build --output-on-failure -j 2 --timeout 300

echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
RTLAB_TEST_TIMEOUT_SCALE=${RTLAB_TEST_TIMEOUT_SCALE:-3} \
    ctest --test-dir build-asan --output-on-failure -j 2 --timeout 600
