#!/usr/bin/env bash
# A local dynamo ring of five kvd nodes on 127.0.0.1 (N=3, R=W=quorum), from
# config/dynamo-5.yaml (client ports 7421-7425), for trying things out:
#
#   scripts/dynamo.sh start  [--dir ./data/dynamo]
#   scripts/dynamo.sh status [--dir ./data/dynamo]
#   scripts/dynamo.sh stop   [--dir ./data/dynamo]
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
exec "$root/scripts/cluster.sh" "$cmd" --template "$root/config/dynamo-5.yaml" \
  --dir "$root/data/dynamo" "$@"
