#!/usr/bin/env bash
# Soak the deterministic simulator: many random seeds per replication mode, in parallel.
#
#   scripts/sim-soak.sh [--seeds N] [--modes "quorum sync semi_sync async"] [--nodes 3]
#
# Each mode runs N seeds starting at a random seed (printed). The first failing seed stops
# that mode and prints its replay command (kvd_sim --mode=... --seed=0x...): add it to
# tests/sim/regressions/raft.txt once fixed. Exits 1 if any mode failed.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=20000
modes="quorum sync semi_sync async"
nodes=3
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "sim-soak: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x build/tests/sim/kvd_sim ] || scripts/build.sh >/dev/null
status=0
pids=()
for mode in $modes; do
  build/tests/sim/kvd_sim --mode="$mode" --nodes="$nodes" --seeds="$seeds" --random --quiet \
    > "/tmp/kvd-sim-soak-$mode.log" 2>&1 &
  pids+=("$!")
done
i=0
for mode in $modes; do
  if ! wait "${pids[$i]}"; then status=1; fi
  echo "== $mode: $(tail -n 3 "/tmp/kvd-sim-soak-$mode.log")"
  i=$((i + 1))
done
exit $status
