#!/usr/bin/env bash
# Local write throughput of one multi_leader member while it replicates to two others,
# against a single-instance kvd with the same durability, and the replication lag at that
# load, all on this machine in one run, on loopback.
#
#   scripts/bench-multi-leader.sh [--rounds N] [--duration SECONDS] [--quick]
#                                 [--connections N] [--out FILE]
#
# Per round (single and multi_leader alternate, A B A B): kvbench workload W (100-byte
# values, 100k keys, N connections, pipeline 1) against a single kvd, then against member 1
# of a 3-member all_to_all multi_leader cluster while lag_probe writes a fresh value to
# member 1 every 10 ms and times how long member 2 takes to show it. Both use durability
# `always` (fsync before the acknowledgement). Prints medians, the ratio, and lag p50/p99.
# Servers and clients share the machine's cores unpinned, the same way for both.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

rounds=3
duration=5
warmup=1
connections=50
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --quick) rounds=1; duration=2; warmup=0.5; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-multi-leader: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/build.sh >/dev/null
kvd=$root/build/server/kvd
kvbench=$root/build/client/bench/kvbench
lag_probe=$root/build/client/bench/lag_probe

work=$(mktemp -d /tmp/kvd-bench-ml.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench-multi-leader: nothing listens on port $1" >&2
  return 1
}

cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "bench-multi-leader: $(nproc) CPUs ($cpu_model); $rounds round(s) of ${duration}s, $connections connections"

# ---- single ----
single_port=$(free_port)
cat > "$work/single.yaml" <<EOF
server:
  listen: 127.0.0.1:$single_port
  admin_enabled: false
storage:
  durability: always
log:
  level: warn
EOF
"$kvd" --config "$work/single.yaml" --data-dir "$work/single" 2> "$work/single.log" &
pids+=("$!")
wait_port "$single_port"

# ---- multi_leader, 3 members, all_to_all ----
ports=()
members=""
for i in 1 2 3; do
  c=$(free_port); p=$(free_port)
  ports+=("$c")
  members+="    - {id: $i, client: 127.0.0.1:$c, peer: 127.0.0.1:$p}"$'\n'
done
cat > "$work/ml.yaml" <<EOF
node:
  mode: multi_leader
cluster:
  name: bench-ml
  members:
$members
multi_leader:
  propagation: all_to_all
server:
  admin_enabled: false
storage:
  durability: always
log:
  level: warn
EOF
for i in 1 2 3; do
  "$kvd" --config "$work/ml.yaml" --node-id "$i" --data-dir "$work/ml$i" 2> "$work/ml$i.log" &
  pids+=("$!")
done
for port in "${ports[@]}"; do wait_port "$port"; done
writer=127.0.0.1:${ports[0]}
reader=127.0.0.1:${ports[1]}

results=$work/results.jsonl
: > "$results"
bench() {  # bench LABEL ENDPOINT
  local json
  json=$("$kvbench" --target kvd --endpoints "$2" --json --keys 100000 --value-size 100 \
    --duration "$duration" --warmup "$warmup" --workload W --connections "$connections" \
    --pipeline 1)
  python3 -c 'import json,sys
r = json.loads(sys.argv[1])["run"]
print(json.dumps({"label": sys.argv[2], "ops": r["throughput"],
                  "p50_ms": r["latency"]["all"]["p50_ms"], "p99_ms": r["latency"]["all"]["p99_ms"],
                  "errors": sum(r["errors"].values())}))' "$json" "$1" >> "$results"
}

for round in $(seq 1 "$rounds"); do
  echo "bench-multi-leader:   round $round: single"
  bench single "127.0.0.1:$single_port"
  echo "bench-multi-leader:   round $round: multi_leader member 1, with lag probe to member 2"
  "$lag_probe" --writer "$writer" --reader "$reader" --duration "$duration" --json \
    > "$work/lag.$round.json" &
  probe=$!
  bench multi_leader "$writer"
  wait "$probe"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["label"]="lag"; print(json.dumps(d))' \
    "$work/lag.$round.json" >> "$results"
done
# Also the lag with no other load.
"$lag_probe" --writer "$writer" --reader "$reader" --duration "$duration" --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); d["label"]="lag_idle"; print(json.dumps(d))' \
  >> "$results"

python3 - "$results" "$cpu_model" "$(nproc)" "$rounds" "$duration" "$connections" "$out" <<'EOF'
import json, statistics, sys
path, cpu, ncpu, rounds, duration, conns, out = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
def med(label, field):
    v = [r[field] for r in rows if r["label"] == label]
    return statistics.median(v) if v else float("nan")
s, m = med("single", "ops"), med("multi_leader", "ops")
report = {
    "machine": {"cpus": int(ncpu), "cpu": cpu}, "rounds": int(rounds), "duration_s": float(duration),
    "connections": int(conns),
    "single": {"ops": s, "p50_ms": med("single", "p50_ms"), "p99_ms": med("single", "p99_ms")},
    "multi_leader": {"ops": m, "p50_ms": med("multi_leader", "p50_ms"),
                     "p99_ms": med("multi_leader", "p99_ms")},
    "ratio": m / s,
    "lag_under_load_ms": {"p50": med("lag", "p50_ms"), "p99": med("lag", "p99_ms"),
                          "max": med("lag", "max_ms")},
    "lag_idle_ms": {"p50": med("lag_idle", "p50_ms"), "p99": med("lag_idle", "p99_ms"),
                    "max": med("lag_idle", "max_ms")},
    "errors": sum(r.get("errors", 0) for r in rows),
}
print()
print(f"Machine: {ncpu} CPUs, {cpu}; durability always; medians of {rounds} round(s) of {duration} s, "
      f"{conns} connections, pipeline 1, 100-byte values")
print()
print(f"{'writes':<44}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
print(f"{'single instance':<44}{s:>10.0f}{report['single']['p50_ms']:>9.2f}{report['single']['p99_ms']:>9.2f}")
print(f"{'multi_leader member, replicating to 2 others':<44}{m:>10.0f}"
      f"{report['multi_leader']['p50_ms']:>9.2f}{report['multi_leader']['p99_ms']:>9.2f}")
print(f"{'ratio (target >= 0.80)':<44}{m / s:>10.2f}")
print()
l, i = report["lag_under_load_ms"], report["lag_idle_ms"]
print(f"replication lag member 1 -> 2 under that load: p50 {l['p50']:.2f} ms, p99 {l['p99']:.2f} ms, "
      f"max {l['max']:.2f} ms (target p99 < 50 ms)")
print(f"replication lag with no other load:           p50 {i['p50']:.2f} ms, p99 {i['p99']:.2f} ms, "
      f"max {i['max']:.2f} ms")
if report["errors"]: print(f"errors: {report['errors']}")
if out:
    with open(out, "w") as f: json.dump(report, f, indent=2)
EOF
