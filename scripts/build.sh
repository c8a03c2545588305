#!/usr/bin/env bash
# Configures and builds kvd.
#   scripts/build.sh            release build (RelWithDebInfo) in build/
#   scripts/build.sh --asan     AddressSanitizer + UBSan build in build-asan/
# Warnings are errors in both.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVD_WERROR=ON)
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  # The simulator is ~5x slower under ASan: fewer seeds per ctest entry there.
  flags=(-DCMAKE_BUILD_TYPE=Debug -DKVD_WERROR=ON -DKVD_ASAN=ON -DKVD_SIM_SEEDS_PER_TEST=20)
fi

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${generator[@]}" "${flags[@]}"
fi
cmake --build "$dir" --parallel "$(nproc)"
