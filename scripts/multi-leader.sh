#!/usr/bin/env bash
# A local multi_leader cluster of three kvd leaders on 127.0.0.1 in a ring, from
# config/multi-leader-3.yaml (client ports 7411-7413), for trying things out:
#
#   scripts/multi-leader.sh start  [--dir ./data/multi-leader]
#   scripts/multi-leader.sh status [--dir ./data/multi-leader]
#   scripts/multi-leader.sh stop   [--dir ./data/multi-leader]
#
# It is scripts/cluster.sh with that template (see scripts/cluster.sh --help for the other
# options, such as --nodes and --base-port).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd="${1:-}"
if [ -z "$cmd" ] || [ "$cmd" = "-h" ] || [ "$cmd" = "--help" ]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  [ -n "$cmd" ] && exit 0 || exit 2
fi
shift
exec "$root/scripts/cluster.sh" "$cmd" --template "$root/config/multi-leader-3.yaml" \
  --dir "$root/data/multi-leader" "$@"
