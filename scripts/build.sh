#!/usr/bin/env bash
# Configures and builds kvd.
#   scripts/build.sh            release build (RelWithDebInfo) in build/: everything
#   scripts/build.sh --asan     AddressSanitizer + UBSan build in build-asan/: the unit test
#                               binaries and the simulator (what CI runs under ASan)
#   scripts/build.sh --asan --all   ... every target
# Warnings are errors in both.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
# -g1: line tables and symbols (enough for perf, gdb backtraces and sanitizer reports) at
# about two thirds of the compile time of full -g.
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
       -DKVD_WERROR=ON)
if [ "${1:-}" = "--asan" ]; then
  dir=build-asan
  # Optimized (-O1, as ASan's authors recommend) so the simulator runs at a useful speed;
  # even so it is several times slower under ASan: fewer seeds per ctest entry there.
  flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1" -DKVD_WERROR=ON -DKVD_ASAN=ON
         -DKVD_SIM_TESTS_PER_MODE=1 -DKVD_SIM_SEEDS_PER_TEST=40 -DKVD_SIM_DEMO_SEEDS=60
         -DKVD_SIM_DETERMINISM_SEEDS=4)
fi

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${generator[@]}" "${flags[@]}"
fi
if [ "$dir" = build-asan ] && [ "${2:-}" != "--all" ]; then
  # CI runs the unit and simulator tests under ASan; building the integration tests,
  # benchmarks and servers there too would double the build time on a 2-core machine.
  mapfile -t targets < <(cmake --build "$dir" --target help | sed -n 's/^\.\.\. \(unit_[a-z_]*\).*/\1/p; s/^\(unit_[a-z_]*\): .*/\1/p')
  cmake --build "$dir" --parallel "$(nproc)" --target "${targets[@]}" kvd_sim kvd_ml_sim kvd_dynamo_sim
else
  cmake --build "$dir" --parallel "$(nproc)"
fi
