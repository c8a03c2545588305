#!/usr/bin/env bash
# Runs kvd-torture (tests/torture): a real kvd cluster under faults, with a verdict.
#
#   scripts/torture.sh --topology leader_follower [--duration 3600] [--seed S]
#                      [--nemesis kill,pause,partition,netem,skew] [--set raft.replication=async]
#                      [any other kvd-torture option]
#
# Builds kvd and kvd-torture first when they are missing. Every argument goes to
# kvd-torture (see `build/tests/torture/kvd-torture --help`); the report is written to
# torture-<topology>-<seed>/ (report.html, report.json, latency.png) unless --out says
# otherwise. As root, each node runs in its own network namespace (partitions and netem
# need that); otherwise on loopback. Exit status: kvd-torture's (0: every guarantee holds).
# A long soak per topology, as recorded in docs/RELIABILITY.md:
#   for t in single leader_follower multi_leader dynamo; do
#     scripts/torture.sh --topology $t --duration 3600 --quiet; done
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,16p' "$0"
  [ -x build/tests/torture/kvd-torture ] && build/tests/torture/kvd-torture --help
  exit 0
fi
if [ ! -x build/tests/torture/kvd-torture ] || [ ! -x build/server/kvd ]; then
  scripts/install-deps.sh >/dev/null
  scripts/build.sh >/dev/null
fi
exec build/tests/torture/kvd-torture "$@"
