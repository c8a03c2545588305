#!/usr/bin/env bash
# A five-node dynamo ring (N=3, R=W=2) driven two ways with the same load, and the cost of
# one full anti-entropy pass over 1,000,000 keys, all on this machine in one run:
#
#   scripts/bench-dynamo.sh [--rounds N] [--duration SECONDS] [--connections N]
#                           [--pipeline N] [--keys N] [--ae-keys N] [--no-ae] [--quick]
#                           [--base-port P] [--build-dir DIR] [--out FILE]
#
# The ring starts from config/dynamo-5.yaml (its settings, durability `always` included)
# rewritten into a temp folder with other ports (free ones, or client P+1..P+5, peer
# P+101.., admin P+201.. with --base-port) and data directories, and is stopped at the
# end whatever happens. After loading the keys (100-byte values), each round runs YCSB
# workloads A (50/50 read/update) and B (95/5), zipfian, at --connections connections
# (throughput), and A with one connection (the request path's latency without queueing),
# each with the same connections, pipeline and client I/O threads in both modes,
# alternating which goes first:
#   coordinator  kvbench without routing: connection i talks to node i mod 5, which
#                coordinates every request it gets (a write to a key it does not
#                replicate is forwarded to a replica; a read asks the N replicas);
#   smart        kvbench --smart: libkvclient's smart_routing sends each request to the
#                first replica of its key.
# Then client/bench/ae_bench (in process, no ring) measures one full anti-entropy pass.
# Prints medians per workload and mode (throughput; p50 and p99, all operations, and p50 of
# reads and of updates as the client saw them; the mean time a GET and a PUT spent in the
# node that took it, from the nodes' kvd_request_duration_seconds; the writes the ring
# forwarded; server CPU per operation, the five kvd processes' user + system time over the
# run divided by its operations, and the client's likewise), the smart/coordinator ratios,
# and the AE figures.
# Servers and clients share the machine's cores unpinned, the same way for both modes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

rounds=5
duration=5
warmup=1
connections=50
pipeline=1
keys=100000
ae_keys=1000000
ae=1
base_port=""
build_dir=$root/build
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --ae-keys) ae_keys=$2; shift 2 ;;
    --no-ae) ae=0; shift ;;
    --quick) rounds=1; duration=2; warmup=0.5; ae_keys=100000; shift ;;
    --base-port) base_port=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-dynamo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$build_dir" in /*) ;; *) build_dir=$root/$build_dir ;; esac

# ---- build (only what this script runs) ----
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DKVD_WERROR=ON >/dev/null
fi
cmake --build "$build_dir" --parallel "$(nproc)" --target kvd kvctl kvbench ae_bench >/dev/null
kvd=$build_dir/server/kvd
kvctl=$build_dir/client/kvctl/kvctl
kvbench=$build_dir/client/bench/kvbench
ae_bench=$build_dir/client/bench/ae_bench

work=$(mktemp -d /tmp/kvd-bench-dynamo.XXXXXX)
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
  for _ in $(seq 1 400); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench-dynamo: nothing listens on port $1; the nodes' logs end with:" >&2
  for log in "$work"/node-*.log; do echo "== $log" >&2; tail -n 5 "$log" >&2; done
  return 1
}

cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "bench-dynamo: $(nproc) CPUs ($cpu_model); $rounds round(s) of ${duration}s, $connections connections x pipeline $pipeline"

# ---- the ring: config/dynamo-5.yaml with this run's ports ----
ports=()  # "client peer admin" per node
for i in 1 2 3 4 5; do
  if [ -n "$base_port" ]; then
    ports+=("$((base_port + i)) $((base_port + 100 + i)) $((base_port + 200 + i))")
  else
    ports+=("$(free_port) $(free_port) $(free_port)")
  fi
done
python3 - "$root/config/dynamo-5.yaml" "$work/ring.yaml" "${ports[@]}" <<'EOF'
import re, sys
template, out, ports = sys.argv[1], sys.argv[2], [p.split() for p in sys.argv[3:]]
text = open(template).read()
def member(m):
    i = int(m.group(1))
    c, p, a = ports[i - 1]
    return f"- {{id: {i}, client: 127.0.0.1:{c}, peer: 127.0.0.1:{p}, admin: 127.0.0.1:{a}}}"
text, n = re.subn(r"- \{id: (\d+), client: [^,]+, peer: [^,]+, admin: [^}]+\}", member, text)
if n != 5: sys.exit(f"bench-dynamo: expected 5 members in {template}, found {n}")
text = text.replace("name: kvd-demo-dynamo", "name: kvd-bench-dynamo")
open(out, "w").write(text + "\nlog:\n  level: warn\n")
EOF
endpoints=""
for i in 1 2 3 4 5; do
  "$kvd" --config "$work/ring.yaml" --node-id "$i" --data-dir "$work/node-$i" \
    2> "$work/node-$i.log" &
  pids+=("$!")
  client=${ports[$((i - 1))]%% *}
  endpoints+="${endpoints:+,}127.0.0.1:$client"
done
for i in 1 2 3 4 5; do wait_port "${ports[$((i - 1))]%% *}"; done
# Every node must see the other four up before the load starts.
for i in 1 2 3 4 5; do
  client=${ports[$((i - 1))]%% *}
  for _ in $(seq 1 100); do
    up=$("$kvctl" --endpoints "127.0.0.1:$client" status -o json 2>/dev/null |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["dynamo"]["nodes_up"])' 2>/dev/null || true)
    [ "$up" = 5 ] && break
    sleep 0.1
  done
  if [ "$up" != 5 ]; then echo "bench-dynamo: node $i sees ${up:-?}/5 nodes up" >&2; exit 1; fi
done
echo "bench-dynamo: ring up at $endpoints (N=3, R=W=2, durability always); loading $keys keys"
"$kvbench" --endpoints "$endpoints" --workload W --load --ops 1 --warmup 0 --keys "$keys" \
  --value-size 100 --connections "$connections" --pipeline 16 --json > "$work/load.json"

results=$work/results.jsonl
: > "$results"
ring_cpu_ticks() {  # CPU time (user + system, clock ticks) the five kvd processes used so far
  local total=0 f
  for pid in "${pids[@]}"; do
    read -r -a f < "/proc/$pid/stat"
    total=$((total + f[13] + f[14]))
  done
  echo "$total"
}
# The nodes' request duration sums and counts for GET and PUT (kvd_request_duration_seconds
# from each admin /metrics), as JSON: the time a request spends in the node that took it.
server_durations() {
  python3 - "${ports[@]}" <<'PY'
import json, re, sys, urllib.request
total = {}
for entry in sys.argv[1:]:
    admin = entry.split()[2]
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    for m in re.finditer(r'^kvd_request_duration_seconds_(sum|count)\{op="(get|put)"\} (\S+)$', text, re.M):
        key = f"{m.group(2)}_{m.group(1)}"
        total[key] = total.get(key, 0) + float(m.group(3))
print(json.dumps(total))
PY
}
# bench LABEL MODE WORKLOAD CONNECTIONS [kvbench options...]: one kvbench run; appends its
# figures (and the ring's server CPU and the client's CPU per operation, and the mean time
# GETs and PUTs spent in the node the client sent them to) to $results.
bench() {
  local label=$1 mode=$2 workload=$3 conns=$4 json before after durations_before durations_after
  shift 4
  durations_before=$(server_durations)
  before=$(ring_cpu_ticks)
  # kvbench through python, for its CPU time (getrusage of the child).
  json=$(python3 -c 'import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], check=True, stdout=subprocess.PIPE).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"kvbench": json.loads(out), "client_cpu_s": ru.ru_utime + ru.ru_stime}))' \
    "$kvbench" --endpoints "$endpoints" --json --keys "$keys" --value-size 100 \
    --duration "$duration" --warmup "$warmup" --workload "$workload" \
    --connections "$conns" --pipeline "$pipeline" "$@")
  after=$(ring_cpu_ticks)
  durations_after=$(server_durations)
  python3 -c 'import json,sys
j = json.loads(sys.argv[1]); r = j["kvbench"]["run"]; lat = r["latency"]
d0, d1 = json.loads(sys.argv[7]), json.loads(sys.argv[8])
def node_ms(op):
    n = d1.get(op + "_count", 0) - d0.get(op + "_count", 0)
    return (d1.get(op + "_sum", 0) - d0.get(op + "_sum", 0)) / n * 1e3 if n > 0 else None
ticks, hz, seconds = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
# Operations over the whole kvbench run (warm-up included), estimated from the measured rate.
ops = max(r["throughput"] * seconds, 1)
def p(op, q): return lat[op][q] if op in lat else None
print(json.dumps({"label": sys.argv[3], "mode": sys.argv[2], "ops": r["throughput"],
                  "p50_ms": p("all", "p50_ms"), "p99_ms": p("all", "p99_ms"),
                  "read_p50_ms": p("read", "p50_ms"), "update_p50_ms": p("update", "p50_ms"),
                  "errors": sum(r["errors"].values()),
                  "node_get_ms": node_ms("get"), "node_put_ms": node_ms("put"),
                  "server_cpu_us": ticks / hz / ops * 1e6, "client_cpu_us": j["client_cpu_s"] / ops * 1e6}))' \
    "$json" "$mode" "$label" "$((after - before))" "$(getconf CLK_TCK)" \
    "$(python3 -c "print($duration + $warmup)")" "$durations_before" "$durations_after" >> "$results"
}
forwards() {  # the ring's forwards_total, summed over the nodes
  local total=0 n
  for i in 1 2 3 4 5; do
    n=$("$kvctl" --endpoints "127.0.0.1:${ports[$((i - 1))]%% *}" status -o json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["dynamo"]["forwards_total"])')
    total=$((total + n))
  done
  echo "$total"
}

# Per round: A and B at $connections connections (throughput), then A with one connection
# (the request path's latency without queueing), each in both modes.
turn=0
for round in $(seq 1 "$rounds"); do
  for case in "A A $connections" "B B $connections" "A1 A 1"; do
    read -r label workload conns <<<"$case"
    # Alternate which mode goes first, so neither always runs on a warmer ring.
    if [ $((turn % 2)) -eq 0 ]; then order="coordinator smart"; else order="smart coordinator"; fi
    turn=$((turn + 1))
    for mode in $order; do
      echo "bench-dynamo:   round $round: workload $workload, $conns connection(s), $mode"
      before=$(forwards)
      if [ "$mode" = smart ]; then
        bench "$label" smart "$workload" "$conns" --smart
      else
        bench "$label" coordinator "$workload" "$conns"
      fi
      after=$(forwards)
      echo "{\"mode\": \"$mode\", \"label\": \"$label\", \"forwards\": $((after - before))}" >> "$results"
    done
  done
done

if [ "$ae" -eq 1 ]; then
  echo "bench-dynamo: ae_bench: one full anti-entropy pass over $ae_keys keys (in process)"
  "$ae_bench" --keys "$ae_keys" --nodes 3 --tokens 256 --replicas 3 --differ 1 --json \
    > "$work/ae.json"
else
  echo '{}' > "$work/ae.json"
fi

python3 - "$results" "$work/ae.json" "$cpu_model" "$(nproc)" "$rounds" "$duration" \
  "$connections" "$pipeline" "$keys" "$out" <<'EOF'
import json, statistics, sys
path, ae_path, cpu, ncpu, rounds, duration, conns, pipeline, keys, out = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
ae = json.load(open(ae_path))
def med(mode, label, field):
    v = [r[field] for r in rows if r["mode"] == mode and r["label"] == label and r.get(field) is not None]
    return statistics.median(v) if v else float("nan")
def total(mode, label, field):
    return sum(r[field] for r in rows if r["mode"] == mode and r["label"] == label and field in r)
report = {"machine": {"cpus": int(ncpu), "cpu": cpu}, "rounds": int(rounds),
          "duration_s": float(duration), "connections": int(conns), "pipeline": int(pipeline),
          "keys": int(keys), "workloads": {}, "anti_entropy": ae}
print()
print(f"Machine: {ncpu} CPUs, {cpu}; 5-node dynamo ring N=3 R=W=2, durability always; medians of "
      f"{rounds} round(s) of {duration} s, pipeline {pipeline}, {keys} keys, 100-byte values, zipfian")
print()
print(f"{'workload':<22}{'mode':<12}{'ops/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'read p50':>9}{'upd p50':>9}"
      f"{'node GET':>9}{'node PUT':>9}{'errors':>7}{'fwds':>7}{'srv CPU/op':>11}{'cli CPU/op':>11}")
def fmt(x, spec): return format(x, spec) if x == x else "-"
FIELDS = ("ops", "p50_ms", "p99_ms", "read_p50_ms", "update_p50_ms", "node_get_ms", "node_put_ms",
          "server_cpu_us", "client_cpu_us")
for label, name in (("A", f"A 50/50, {conns} conns"), ("B", f"B 95/5, {conns} conns"),
                    ("A1", "A 50/50, 1 conn")):
    entry = {}
    for mode in ("coordinator", "smart"):
        e = {f: med(mode, label, f) for f in FIELDS}
        e["errors"] = total(mode, label, "errors")
        e["forwards"] = total(mode, label, "forwards")
        e["ops_per_round"] = [r["ops"] for r in rows
                              if r["mode"] == mode and r["label"] == label and "ops" in r]
        entry[mode] = e
        print(f"{name:<22}{mode:<12}{e['ops']:>8.0f}{e['p50_ms']:>8.2f}{e['p99_ms']:>8.2f}"
              f"{fmt(e['read_p50_ms'], '>9.3f')}{fmt(e['update_p50_ms'], '>9.3f')}"
              f"{fmt(e['node_get_ms'], '>9.3f')}{fmt(e['node_put_ms'], '>9.3f')}"
              f"{e['errors']:>7}{e['forwards']:>7}{e['server_cpu_us']:>8.0f} us{e['client_cpu_us']:>8.0f} us")
    c, s = entry["coordinator"], entry["smart"]
    entry["ratio"] = {f: s[f] / c[f] for f in FIELDS}
    r = entry["ratio"]
    print(f"{'':<22}{'smart/coord':<12}{r['ops']:>8.2f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}"
          f"{fmt(r['read_p50_ms'], '>9.2f')}{fmt(r['update_p50_ms'], '>9.2f')}"
          f"{fmt(r['node_get_ms'], '>9.2f')}{fmt(r['node_put_ms'], '>9.2f')}{'':>14}"
          f"{r['server_cpu_us']:>11.2f}{r['client_cpu_us']:>11.2f}")
    print(f"{'':<22}ops/s by round: coordinator "
          + " ".join(f"{x:.0f}" for x in c["ops_per_round"]) + "; smart "
          + " ".join(f"{x:.0f}" for x in s["ops_per_round"]))
    report["workloads"][label] = entry
if ae:
    print()
    print(f"Anti-entropy, one full pass of node 1 ({ae['keys']} keys, {ae['nodes']} nodes x "
          f"{ae['tokens']} tokens, N={ae['replicas']}, merkle_depth {ae['merkle_depth']}; in process):")
    print(f"{'':<28}{'wall s':>9}{'exchanges':>11}{'messages':>10}{'bytes':>12}{'keys sent':>11}")
    for label, key in (("identical replicas", "identical"),
                       (f"{ae.get('differ_percent', 0):g}% of node 3's keys behind", "differing")):
        if key not in ae: continue
        p = ae[key]
        print(f"{label:<28}{p['seconds']:>9.3f}{p['exchanges']:>11}{p['messages']:>10}"
              f"{p['bytes']:>12}{p['keys_sent']:>11}")
if out:
    with open(out, "w") as f: json.dump(report, f, indent=2)
EOF
