#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the release build: every test (unit, integration) through ctest;
#   2. the AddressSanitizer + UBSan build: the unit and simulator tests through ctest
#      (fewer simulator seeds than the release build).
# Usage: scripts/test.sh [--no-asan]
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
start=$(date +%s)
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600 -j "$jobs")

if [ "${1:-}" != "--no-asan" ]; then
  scripts/build.sh --asan
  (cd build-asan && ctest --output-on-failure --timeout 900 -j "$jobs" -L 'unit|sim')
fi
echo "test: all tests passed in $(( $(date +%s) - start ))s"
