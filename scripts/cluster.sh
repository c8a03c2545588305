#!/usr/bin/env bash
# A local leader_follower (Raft) cluster of kvd nodes on 127.0.0.1, for trying things out.
# (scripts/multi-leader.sh and scripts/dynamo.sh run this with --template
# config/multi-leader-3.yaml and config/dynamo-5.yaml.)
#
#   scripts/cluster.sh start  [--nodes N] [--dir ./data/cluster] [--base-port 7400]
#                             [--template config/leader-follower-3.yaml]
#   scripts/cluster.sh status [--dir ./data/cluster]
#   scripts/cluster.sh stop   [--dir ./data/cluster]
#
# start: builds kvd and kvctl if they are missing (scripts/build.sh), starts nodes 1..N in
#   the background from config/leader-follower-3.yaml (client ports 7401.., peer 7501..,
#   admin 7601..), waits until a leader is elected, and prints the endpoints and example
#   kvctl commands. With --nodes N other than the template's number of members (3 in
#   config/leader-follower-3.yaml), or --base-port B (client B+i, peer B+100+i,
#   admin B+200+i), a config with the same settings is written to DIR/cluster.yaml. Node i
#   keeps its data in DIR/node-i, its log in DIR/node-i.log and its PID in DIR/node-i.pid.
#   Nodes already running are left alone. If a node fails to start, the nodes this run
#   started are stopped again.
#   --template: the config the nodes start from (its mode decides what start waits for: a
#   leader in leader_follower, every node answering in multi_leader and dynamo); the
#   default base port is one below the template's first client port.
# status: each node's PID, role, term and leader (multi_leader: its progress; dynamo: how
#   many nodes it sees up and the hints it holds).
# stop: SIGTERM to each node (by its PID file), SIGKILL after a grace period.
#
# Every address is on 127.0.0.1. --dir is relative to the current directory; the default
# is data/cluster in the source tree. Data survives stop/start; delete the directory to
# start afresh.
set -euo pipefail

usage() {
  sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

root="$(cd "$(dirname "$0")/.." && pwd)"
cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
nodes=""  # default: as many as the template has members
base_port=""
explicit=0  # --nodes or --base-port given
dir="$root/data/cluster"
grace_s=10
template="$root/config/leader-follower-3.yaml"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="${2:?--nodes needs a number}"; explicit=1; shift 2 ;;
    --nodes=*) nodes="${1#--nodes=}"; explicit=1; shift ;;
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --base-port) base_port="${2:?--base-port needs a port}"; explicit=1; shift 2 ;;
    --base-port=*) base_port="${1#--base-port=}"; explicit=1; shift ;;
    --dir=*) dir="${1#--dir=}"; shift ;;
    --template) template="${2:?--template needs a config file}"; shift 2 ;;
    --template=*) template="${1#--template=}"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "cluster.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
case "$template" in /*) ;; *) template="$PWD/$template" ;; esac
if [ ! -f "$template" ]; then echo "cluster.sh: no config file $template" >&2; exit 2; fi
# multi_leader and dynamo have no leader: start waits for every node to answer instead.
multi_leader=0
dynamo=0
if grep -q '^ *mode: *multi_leader' "$template"; then multi_leader=1; fi
if grep -q '^ *mode: *dynamo' "$template"; then dynamo=1; fi
# The template's own ports: its first member's client port is base + 1.
default_base=$(( $(sed -n 's/^ *- *{ *id: *1, *client: *[0-9.]*:\([0-9]*\).*/\1/p' "$template" | head -1) - 1 ))
if [ -z "$base_port" ]; then base_port=$default_base; fi

kvd="$root/build/server/kvd"
kvctl="$root/build/client/kvctl/kvctl"

# The config the nodes in $dir use (written at start).
config_of_dir() { cat "$dir/config-path" 2>/dev/null || true; }

# "id client" for every member of a config file.
members_of() {
  sed -n 's/^ *- *{ *id: *\([0-9][0-9]*\), *client: *\([^,} ]*\).*/\1 \2/p' "$1"
}

# True if $1 is the PID of a kvd node of this cluster (a PID file may outlive its process,
# and the PID be reused).
is_kvd() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $dir/node-"
}

pid_of() { cat "$dir/node-$1.pid" 2>/dev/null || true; }

# Prints "role term leader_id" of the node at client address $1, or nothing.
node_state() {
  local json
  json="$("$kvctl" --endpoints "$1" --timeout 1s status --output json 2>/dev/null)" || return 0
  # The top-level "role" is the last one in the (key-sorted) JSON; peers have roles too.
  local role term leader
  role="$(printf '%s' "$json" | sed -n 's/.*"role":"\([a-z_]*\)".*/\1/p')"
  term="$(printf '%s' "$json" | sed -n 's/.*"term":\([0-9]*\).*/\1/p')"
  leader="$(printf '%s' "$json" | sed -n 's/.*"leader_id":\([0-9]*\).*/\1/p')"
  if [ "$dynamo" -eq 1 ]; then
    # No leader either: how many nodes it believes up, and the hints it holds for others.
    local up all hints
    up="$(printf '%s' "$json" | sed -n 's/.*"nodes_up":\([0-9]*\).*/\1/p')"
    all="$(printf '%s' "$json" | sed -n 's/.*"nodes":\([0-9]*\).*/\1/p')"
    hints="$(printf '%s' "$json" | sed -n 's/.*"hints_pending":\([0-9]*\).*/\1/p')"
    echo "${role:-?} ${up:-?}/${all:-?} ${hints:-?}"
    return 0
  fi
  if [ "$multi_leader" -eq 1 ]; then
    # No terms or leader there: the member's progress vector ("{1:3, 2:5}") instead.
    local progress
    progress="$(printf '%s' "$json" | sed -n 's/.*"progress":"\([^"]*\)".*/\1/p')"
    echo "${role:-?} ${progress:-?}"
    return 0
  fi
  echo "${role:-?} ${term:-?} ${leader:-?}"
}

# Every host:port of member $2 of config file $1.
addresses_of() {
  grep "^ *- *{ *id: *$2," "$1" | grep -o '[0-9.]*:[0-9][0-9]*'
}

# True if something accepts connections at host:port $1.
in_use() {
  (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# The template with N members at the ports of base B.
write_config() {
  local n="$1" base="$2" out="$3"
  {
    echo "# written by scripts/cluster.sh from $template: $n nodes, base port $base"
    sed -n '1,/^  members:/p' "$template" | grep -v '^ *- *{ *id:'
    for i in $(seq 1 "$n"); do
      echo "    - {id: $i, client: 127.0.0.1:$((base + i)), peer: 127.0.0.1:$((base + 100 + i)), admin: 127.0.0.1:$((base + 200 + i))}"
    done
    sed -n '/^  members:/,$p' "$template" | sed '1d' | grep -v '^ *- *{ *id:'
  } >"$out"
}

# Stops the nodes (ids as arguments) this run started, after a failed start.
abandon() {
  local id pid
  for id in "$@"; do
    pid="$(pid_of "$id")"
    if is_kvd "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      local deadline=$((SECONDS + grace_s))
      while is_kvd "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      if is_kvd "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
      echo "cluster.sh: stopped node $id again (pid $pid)" >&2
    fi
    rm -f "$dir/node-$id.pid"
  done
}

start() {
  local template_nodes
  template_nodes="$(members_of "$template" | wc -l)"
  [ -n "$nodes" ] || nodes="$template_nodes"
  case "$nodes" in ''|*[!0-9]*) echo "cluster.sh: --nodes must be a number" >&2; exit 2 ;; esac
  if [ "$nodes" -lt 1 ] || [ "$nodes" -gt 64 ]; then
    echo "cluster.sh: --nodes must be 1 .. 64" >&2
    exit 2
  fi
  case "$base_port" in ''|*[!0-9]*) echo "cluster.sh: --base-port must be a number" >&2; exit 2 ;; esac
  if [ "$base_port" -lt 1024 ] || [ "$base_port" -gt 65000 ]; then
    echo "cluster.sh: --base-port must be 1024 .. 65000" >&2
    exit 2
  fi
  if [ ! -x "$kvd" ] || [ ! -x "$kvctl" ]; then
    echo "cluster.sh: building kvd and kvctl (scripts/build.sh)"
    "$root/scripts/build.sh"
  fi
  mkdir -p "$dir"
  # A cluster keeps the members it was created with (they are in its Raft log): a start
  # in a directory with node data reuses its config.
  local config wanted_generated=0
  if [ "$nodes" -ne "$template_nodes" ] || [ "$base_port" -ne "$default_base" ]; then
    wanted_generated=1
  fi
  config=""
  if compgen -G "$dir/node-*/" >/dev/null; then config="$(config_of_dir)"; fi
  if [ -n "$config" ]; then
    if [ "$explicit" -eq 1 ]; then
      local same=1
      if [ "$wanted_generated" -eq 1 ]; then
        [ "$config" = "$dir/cluster.yaml" ] &&
          cmp -s <(write_config "$nodes" "$base_port" /dev/stdout) "$config" || same=0
      else
        [ "$config" = "$template" ] || same=0
      fi
      if [ "$same" -eq 0 ]; then
        echo "cluster.sh: the cluster in $dir was created with other settings ($config);" \
          "start it without --nodes/--base-port, or delete $dir to start afresh" >&2
        exit 1
      fi
    fi
  elif [ "$wanted_generated" -eq 1 ]; then
    config="$dir/cluster.yaml"
    write_config "$nodes" "$base_port" "$config"
  else
    config="$template"
  fi
  echo "$config" >"$dir/config-path"

  local members
  members="$(members_of "$config")"
  local id client pid addr
  local started=()
  while read -r id client; do
    pid="$(pid_of "$id")"
    if is_kvd "$pid"; then
      echo "node $id: already running (pid $pid)"
      continue
    fi
    for addr in $(addresses_of "$config" "$id"); do
      if in_use "$addr"; then
        echo "cluster.sh: $addr (node $id) is in use by another program; stop it, or pick" \
          "other ports with --base-port" >&2
        abandon "${started[@]+"${started[@]}"}"
        exit 1
      fi
    done
    echo "==== cluster.sh: starting node $id at $(date -u +%FT%TZ) ====" >>"$dir/node-$id.log"
    nohup "$kvd" --config "$config" --node-id "$id" --data-dir "$dir/node-$id" \
      >>"$dir/node-$id.log" 2>&1 </dev/null &
    echo $! >"$dir/node-$id.pid"
    disown  # it outlives this script; no job messages
    started+=("$id")
    echo "node $id: started (pid $!), client $client, log $dir/node-$id.log"
  done <<<"$members"

  # Wait for a leader (election timeout 1 s, randomised up to 2 s; start-up takes longer);
  # in multi_leader, for every node to answer (each is a leader); in dynamo, for every node
  # to answer and see every other node up.
  local deadline=$((SECONDS + 30)) leader="" state answering
  while [ -z "$leader" ]; do
    answering=0
    while read -r id client; do
      if ! is_kvd "$(pid_of "$id")"; then
        echo "cluster.sh: node $id exited; the end of $dir/node-$id.log:" >&2
        tail -n 20 "$dir/node-$id.log" >&2
        abandon "${started[@]+"${started[@]}"}"
        exit 1
      fi
      state="$(node_state "$client")"
      case "${state%% *}" in
        leader) leader="$id"; answering=$((answering + 1)) ;;
        follower) [ "$multi_leader" -eq 0 ] || answering=$((answering + 1)) ;;  # a read replica
        replica)  # dynamo: "replica UP/ALL HINTS"
          local seen="${state#replica }"
          seen="${seen%% *}"
          if [ "${seen%/*}" = "${seen#*/}" ]; then answering=$((answering + 1)); fi ;;
      esac
    done <<<"$members"
    if [ "$dynamo" -eq 1 ]; then
      leader=""
      [ "$answering" -lt "$(echo "$members" | wc -l)" ] || leader="none"
    elif [ "$multi_leader" -eq 1 ] && [ "$answering" -lt "$(echo "$members" | wc -l)" ]; then
      leader=""
    fi
    if [ -z "$leader" ]; then
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "cluster.sh: no leader after 30 s; see the logs in $dir" >&2
        abandon "${started[@]+"${started[@]}"}"
        exit 1
      fi
      sleep 0.2
    fi
  done

  local endpoints
  endpoints="$(echo "$members" | awk '{print $2}' | paste -sd, -)"
  echo
  if [ "$dynamo" -eq 1 ]; then
    local first="${endpoints%%,*}" last="${endpoints##*,}"
    echo "ring is up: $(echo "$members" | wc -l) nodes, every one sees the others (dynamo)"
    echo "endpoints: $endpoints"
    echo
    echo "try:"
    echo "  build/client/kvctl/kvctl --endpoints $first put greeting hello"
    echo "  build/client/kvctl/kvctl --endpoints $last get greeting"
    echo "  build/client/kvctl/kvctl --endpoints $last --read-quorum all get greeting"
    echo "  build/client/kvctl/kvctl --endpoints $first ring"
    echo "  build/client/kvctl/kvctl --endpoints $first cluster status"
    echo "  kill -9 \$(cat $dir/node-2.pid)   # writes go on; hints wait for node 2"
    echo "  scripts/dynamo.sh start    # restarts nodes that are not running"
    echo "  scripts/dynamo.sh stop"
    return
  fi
  if [ "$multi_leader" -eq 1 ]; then
    local first="${endpoints%%,*}" last="${endpoints##*,}"
    echo "cluster is up: every node is a leader (multi_leader)"
    echo "endpoints: $endpoints"
    echo
    echo "try:"
    echo "  build/client/kvctl/kvctl --endpoints $first put greeting hello"
    echo "  build/client/kvctl/kvctl --endpoints $last get greeting"
    echo "  build/client/kvctl/kvctl --endpoints $first incr count/visits"
    echo "  build/client/kvctl/kvctl --endpoints $last sadd tags/colors red green"
    echo "  build/client/kvctl/kvctl --endpoints $first smembers tags/colors"
    echo "  build/client/kvctl/kvctl --endpoints $first cluster status"
    echo "  scripts/multi-leader.sh stop"
    return
  fi
  echo "cluster is up: node $leader is the leader"
  echo "endpoints: $endpoints"
  echo
  echo "try:"
  echo "  export KVCTL_ENDPOINTS=$endpoints"
  echo "  build/client/kvctl/kvctl put greeting hello"
  echo "  build/client/kvctl/kvctl get greeting"
  echo "  build/client/kvctl/kvctl --consistency follower get greeting"
  echo "  build/client/kvctl/kvctl --endpoints ${endpoints%%,*} status"
  echo "  scripts/cluster.sh status --dir $dir"
  echo "  kill -9 \$(cat $dir/node-$leader.pid)   # then watch another node take over"
  echo "  scripts/cluster.sh start --dir $dir    # restarts nodes that are not running"
  echo "  scripts/cluster.sh stop --dir $dir"
}

status() {
  local config
  config="$(config_of_dir)"
  if [ -z "$config" ] || [ ! -f "$config" ]; then
    echo "cluster.sh: no cluster in $dir (run: scripts/cluster.sh start --dir $dir)" >&2
    exit 1
  fi
  if [ ! -x "$kvctl" ]; then
    echo "cluster.sh: $kvctl is missing; run scripts/build.sh" >&2
    exit 1
  fi
  # The cluster in $dir may come from another template than this invocation's.
  if grep -q '^ *mode: *multi_leader' "$config"; then multi_leader=1; else multi_leader=0; fi
  if grep -q '^ *mode: *dynamo' "$config"; then dynamo=1; else dynamo=0; fi
  local id client pid state running=0
  if [ "$dynamo" -eq 1 ]; then
    printf '%-5s %-8s %-16s %-10s %-8s %s\n' node pid client role sees-up hints
  elif [ "$multi_leader" -eq 1 ]; then
    printf '%-5s %-8s %-16s %-10s %s\n' node pid client role progress
  else
    printf '%-5s %-8s %-16s %-10s %-6s %s\n' node pid client role term leader
  fi
  while read -r id client; do
    pid="$(pid_of "$id")"
    if is_kvd "$pid"; then
      running=$((running + 1))
      state="$(node_state "$client")"
      [ -n "$state" ] || state="unreachable - -"
      if [ "$dynamo" -eq 1 ]; then
        read -r role up hints <<<"$state"
        printf '%-5s %-8s %-16s %-10s %-8s %s\n' "$id" "$pid" "$client" "$role" "$up" "$hints"
        continue
      fi
      if [ "$multi_leader" -eq 1 ]; then
        read -r role progress <<<"$state"
        printf '%-5s %-8s %-16s %-10s %s\n' "$id" "$pid" "$client" "$role" "$progress"
        continue
      fi
      read -r role term leader <<<"$state"
      printf '%-5s %-8s %-16s %-10s %-6s %s\n' "$id" "$pid" "$client" "$role" "$term" "$leader"
    else
      printf '%-5s %-8s %-16s %-10s %-6s %s\n' "$id" "-" "$client" "stopped" "-" "-"
    fi
  done <<<"$(members_of "$config")"
  [ "$running" -gt 0 ]
}

stop() {
  local f id pid stopped=0
  local pids=()
  for f in "$dir"/node-*.pid; do
    [ -e "$f" ] || continue
    id="$(basename "$f" .pid)"
    id="${id#node-}"
    pid="$(cat "$f")"
    if is_kvd "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$id:$pid")
      echo "node $id: SIGTERM sent (pid $pid)"
    else
      rm -f "$f"
    fi
  done
  local deadline=$((SECONDS + grace_s)) entry
  for entry in "${pids[@]+"${pids[@]}"}"; do
    id="${entry%%:*}"
    pid="${entry#*:}"
    while is_kvd "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if is_kvd "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      echo "node $id: still running after ${grace_s} s; SIGKILL sent (pid $pid)"
    else
      echo "node $id: stopped"
    fi
    rm -f "$dir/node-$id.pid"
    stopped=$((stopped + 1))
  done
  if [ "$stopped" -eq 0 ]; then echo "cluster.sh: no running nodes in $dir"; fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h|--help|help) usage 0 ;;
  *) echo "cluster.sh: unknown command '$cmd'" >&2; usage ;;
esac
