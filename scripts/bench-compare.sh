#!/usr/bin/env bash
# Side-by-side benchmark: kvd (single) against Redis, on this machine, in one run, with the
# same load generator (kvbench) for both. The replicated comparison, a 3-node kvd cluster
# against a 3-member etcd cluster, is scripts/bench-cluster.sh.
#
#   scripts/bench-compare.sh [--rounds N] [--duration SECONDS] [--quick] [--out FILE]
#
# What it does:
#   1. installs what is missing (build deps, redis-server, etcd-server, etcd-client, wrk,
#      python3) from Debian's packages, and builds kvd in release mode;
#   2. measures the ceilings: raw LevelDB puts/gets in-process, and a TCP ping-pong;
#   3. for each durability pairing (kvd periodic vs Redis appendfsync everysec, kvd always
#      vs Redis appendfsync always), starts both servers on loopback with data under a temp
#      folder, loads 100k keys, and runs SET (workload W) and GET (workload C) at 50
#      connections, pipeline 1 and 16, 100-byte values, alternating kvd and Redis (A B A B)
#      for N rounds;
#   4. measures single-connection GET latency against the ping-pong round trip;
#   5. measures peak RSS of kvd and Redis after loading 1M keys of 100 bytes;
#   6. prints medians and kvd/peer ratios (and writes them as JSON with --out).
# Servers are pinned to CPU 0 and kvbench to CPU 1 when there are at least 2 CPUs, the same
# way for kvd and its peer. Everything started is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

rounds=3
duration=5
warmup=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --quick) rounds=1; duration=2; warmup=0.5; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench-compare: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# ---- 1. dependencies and build ----
scripts/install-deps.sh
peers=(redis-server redis-tools etcd-server etcd-client wrk python3)
missing=()
for p in "${peers[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "bench-compare: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
scripts/build.sh >/dev/null
bin=$root/build
kvd=$bin/server/kvd
kvbench=$bin/client/bench/kvbench

work=$(mktemp -d /tmp/kvd-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- pinning ----
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  server_pin=(taskset -c 0)
  client_pin=(taskset -c 1)
  pin_text="servers on CPU 0, kvbench on CPU 1 (taskset), the same for kvd and its peer"
else
  server_pin=()
  client_pin=()
  pin_text="no pinning ($ncpu CPU)"
fi
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
client_threads=1
echo "bench-compare: $ncpu CPUs ($cpu_model), $(uname -r); $pin_text"
echo "bench-compare: $rounds round(s) of ${duration}s (+${warmup}s warm-up) per measurement"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {  # wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s)
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench-compare: nothing listens on port $1" >&2
  return 1
}

start_kvd() {  # start_kvd DURABILITY -> sets kvd_pid, kvd_port
  local durability=$1 dir
  dir=$(mktemp -d "$work/kvd.XXXX")
  kvd_port=$(free_port)
  local admin_port
  admin_port=$(free_port)
  printf 'storage:\n  durability: %s\n  sync_interval_ms: 1000\nlog:\n  level: warn\n' \
    "$durability" > "$dir/kvd.yaml"
  "${server_pin[@]}" "$kvd" --config "$dir/kvd.yaml" --data-dir "$dir/data" \
    --listen "127.0.0.1:$kvd_port" --admin-listen "127.0.0.1:$admin_port" 2> "$dir/kvd.log" &
  kvd_pid=$!
  pids+=("$kvd_pid")
  wait_port "$kvd_port"
}

start_redis() {  # start_redis APPENDFSYNC -> sets redis_pid, redis_port
  local fsync=$1 dir
  dir=$(mktemp -d "$work/redis.XXXX")
  redis_port=$(free_port)
  "${server_pin[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" \
    --save "" --appendonly yes --appendfsync "$fsync" --daemonize no --loglevel warning \
    > "$dir/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_port "$redis_port"
}

stop() {  # stop PID
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

results=$work/results.jsonl
: > "$results"

bench() {  # bench LABEL TARGET PORT kvbench-args... : appends one JSON line
  local label=$1 target=$2 port=$3
  shift 3
  local json
  json=$("${client_pin[@]}" "$kvbench" --target "$target" --endpoints "127.0.0.1:$port" \
    --threads "$client_threads" --json "$@")
  python3 - "$label" "$target" "$json" >> "$results" <<'EOF'
import json, sys
label, target, doc = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
run = doc["run"]
print(json.dumps({"label": label, "target": target, "throughput": run["throughput"],
                  "p50_ms": run["latency"]["all"]["p50_ms"],
                  "p99_ms": run["latency"]["all"]["p99_ms"],
                  "errors": sum(run["errors"].values())}))
EOF
}

# ---- 2. ceilings ----
echo "bench-compare: ceilings"
leveldb_batched=$("${server_pin[@]}" "$bin/client/bench/leveldb_bench" --dir "$work/leveldb16" \
  --keys 200000 --batch 16 --json)
leveldb_single=$("${server_pin[@]}" "$bin/client/bench/leveldb_bench" --dir "$work/leveldb1" \
  --keys 200000 --batch 1 --json)
pp_port=$(free_port)
"${server_pin[@]}" "$bin/client/bench/pingpong" --serve "$pp_port" &
pp_pid=$!
pids+=("$pp_pid")
wait_port "$pp_port"
pingpong=$("${client_pin[@]}" "$bin/client/bench/pingpong" --connect "$pp_port" \
  --seconds "$duration" --json)
stop "$pp_pid"

# ---- 3. throughput, A B A B ----
common=(--keys 100000 --value-size 100 --connections 50 --duration "$duration" --warmup "$warmup")
compare() {  # compare KVD_DURABILITY REDIS_FSYNC WORKLOADS...
  local kd=$1 rf=$2
  shift 2
  start_kvd "$kd"
  start_redis "$rf"
  "${client_pin[@]}" "$kvbench" --target kvd --endpoints "127.0.0.1:$kvd_port" --load \
    --ops 1 --warmup 0 --keys 100000 --quiet > /dev/null
  "${client_pin[@]}" "$kvbench" --target redis --endpoints "127.0.0.1:$redis_port" --load \
    --ops 1 --warmup 0 --keys 100000 --quiet > /dev/null
  for round in $(seq 1 "$rounds"); do
    for w in "$@"; do
      for p in 1 16; do
        local name=SET; [ "$w" = C ] && name=GET
        echo "bench-compare:   round $round: $name pipeline $p (kvd $kd, redis $rf)"
        bench "$name p$p $kd/$rf" kvd "$kvd_port" "${common[@]}" --workload "$w" --pipeline "$p"
        bench "$name p$p $kd/$rf" redis "$redis_port" "${common[@]}" --workload "$w" --pipeline "$p"
      done
    done
  done
  stop "$kvd_pid"
  stop "$redis_pid"
}
echo "bench-compare: kvd periodic vs Redis appendfsync everysec"
compare periodic everysec W C
echo "bench-compare: kvd always vs Redis appendfsync always"
compare always always W

# ---- 4. single-connection latency ----
echo "bench-compare: single-connection GET latency"
start_kvd periodic
start_redis everysec
"${client_pin[@]}" "$kvbench" --target kvd --endpoints "127.0.0.1:$kvd_port" --load --ops 1 \
  --warmup 0 --keys 100000 --quiet > /dev/null
"${client_pin[@]}" "$kvbench" --target redis --endpoints "127.0.0.1:$redis_port" --load \
  --ops 1 --warmup 0 --keys 100000 --quiet > /dev/null
for round in $(seq 1 "$rounds"); do
  bench "GET 1 connection" kvd "$kvd_port" --keys 100000 --connections 1 --pipeline 1 \
    --workload C --duration "$duration" --warmup "$warmup"
  bench "GET 1 connection" redis "$redis_port" --keys 100000 --connections 1 --pipeline 1 \
    --workload C --duration "$duration" --warmup "$warmup"
done
stop "$kvd_pid"
stop "$redis_pid"

# ---- 5. memory after 1M keys ----
echo "bench-compare: peak RSS after loading 1,000,000 keys of 100 bytes"
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
start_kvd periodic
"${client_pin[@]}" "$kvbench" --target kvd --endpoints "127.0.0.1:$kvd_port" --load --ops 1 \
  --warmup 0 --keys 1000000 --quiet > /dev/null
kvd_rss=$(hwm "$kvd_pid")
stop "$kvd_pid"
start_redis everysec
"${client_pin[@]}" "$kvbench" --target redis --endpoints "127.0.0.1:$redis_port" --load \
  --ops 1 --warmup 0 --keys 1000000 --quiet > /dev/null
redis_rss=$(hwm "$redis_pid")
stop "$redis_pid"

# ---- 6. report ----
python3 - "$results" "$leveldb_batched" "$leveldb_single" "$pingpong" "$kvd_rss" "$redis_rss" \
  "$pin_text" "$cpu_model" "$ncpu" "$rounds" "$duration" "$out" <<'EOF'
import json, statistics, sys
(path, ldb16, ldb1, pp, kvd_rss, redis_rss, pin, cpu, ncpu, rounds, duration, out) = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
ldb16, ldb1, pp = json.loads(ldb16), json.loads(ldb1), json.loads(pp)
labels = []
for r in rows:
    if r["label"] not in labels: labels.append(r["label"])
def med(label, target, field):
    v = [r[field] for r in rows if r["label"] == label and r["target"] == target]
    return statistics.median(v) if v else float("nan")
report = {"machine": {"cpus": int(ncpu), "cpu": cpu, "pinning": pin},
          "rounds": int(rounds), "duration_s": float(duration), "comparisons": [],
          "ceilings": {"leveldb_batch16": ldb16, "leveldb_batch1": ldb1, "pingpong": pp},
          "memory_kib": {"kvd": int(kvd_rss), "redis": int(redis_rss)}}
print()
print(f"Machine: {ncpu} CPUs, {cpu}; {pin}")
print(f"Medians of {rounds} round(s), {duration} s each; 50 connections, 100-byte values, 100k keys")
print()
hdr = f"{'measurement':<34}{'kvd ops/s':>12}{'peer ops/s':>12}{'ratio':>8}{'kvd p99':>10}{'peer p99':>10}"
print(hdr)
print("-" * len(hdr))
for label in labels:
    k, p = med(label, "kvd", "throughput"), med(label, "redis", "throughput")
    kp99, pp99 = med(label, "kvd", "p99_ms"), med(label, "redis", "p99_ms")
    errors = sum(r["errors"] for r in rows if r["label"] == label)
    name = label + ("" if label.startswith("GET 1") else "")
    print(f"{name:<34}{k:>12.0f}{p:>12.0f}{k / p:>8.2f}{kp99:>9.3f}ms{pp99:>8.3f}ms"
          + (f"  ({errors} errors)" if errors else ""))
    report["comparisons"].append({"label": label, "kvd_ops": k, "redis_ops": p, "ratio": k / p,
                                  "kvd_p50_ms": med(label, "kvd", "p50_ms"),
                                  "redis_p50_ms": med(label, "redis", "p50_ms"),
                                  "kvd_p99_ms": kp99, "redis_p99_ms": pp99, "errors": errors})
print()
def find(label):
    return next((c for c in report["comparisons"] if c["label"] == label), None)
always16, periodic16 = find("SET p16 always/always"), find("SET p16 periodic/everysec")
always1, periodic1 = find("SET p1 always/always"), find("SET p1 periodic/everysec")
print("Derived:")
for name, a, b in (("p1", always1, periodic1), ("p16", always16, periodic16)):
    if a and b:
        print(f"  kvd SET {name}: always / periodic = {a['kvd_ops'] / b['kvd_ops']:.2f}"
              f" (group commit: fsync cost relative to no fsync)")
if periodic16:
    print(f"  kvd pipelined SET / raw LevelDB batched puts (batch 16) = "
          f"{periodic16['kvd_ops'] / ldb16['overwrite_ops_per_s']:.2f}"
          f"  (LevelDB: {ldb16['overwrite_ops_per_s']:.0f} puts/s, {ldb1['overwrite_ops_per_s']:.0f} unbatched,"
          f" {ldb16['read_ops_per_s']:.0f} gets/s)")
lat = find("GET 1 connection")
if lat:
    print(f"  single-connection GET p50 {lat['kvd_p50_ms'] * 1000:.1f} us vs TCP ping-pong p50 "
          f"{pp['p50_us']:.1f} us: ratio {lat['kvd_p50_ms'] * 1000 / pp['p50_us']:.2f}"
          f" (Redis {lat['redis_p50_ms'] * 1000:.1f} us)")
print(f"  peak RSS after 1M keys of 100 bytes: kvd {int(kvd_rss) / 1024:.0f} MiB, "
      f"Redis {int(redis_rss) / 1024:.0f} MiB")
print("  etcd: the 3-node comparison (kvd leader_follower vs etcd 3.4) is scripts/bench-cluster.sh")
if out:
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nbench-compare: wrote {out}")
EOF
