#!/usr/bin/env bash
# Side-by-side benchmark of replicated writes: a 3-node kvd leader_follower cluster against
# a 3-member etcd 3.4 cluster, on this machine, in one run, with the same durability (every
# member fsyncs its log before acknowledging), all on loopback.
#
#   scripts/bench-cluster.sh [--rounds N] [--duration SECONDS] [--quick] [--out FILE]
#
# What it measures (medians of N rounds, kvd and etcd alternating A B A B):
#   1. writes of 100-byte values to 100k keys from 1 and from 50 concurrent clients, each
#      with one request in flight: kvd through kvbench (workload W), etcd through its v3
#      JSON gateway (POST /v3/kv/put) driven by wrk, since Debian's etcd packages do not
#      ship etcd's own benchmark tool;
#   2. kvd alone, the same writes under each replication mode (quorum, sync, semi_sync,
#      async) from 1 and 50 clients;
#   3. kvd alone, reads (workload C, 50 clients) at each consistency: linearizable
#      (ReadIndex), linearizable with leader leases, leader, follower.
# etcd is driven at its leader's client URL, so no request pays a forwarding hop; kvd's
# client follows the NOT_LEADER redirect to its leader. The machine has few cores: the
# servers and the load generators share them unpinned, the same way for kvd and etcd.
# Everything started is stopped on exit; data lives in a temp folder.
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench-cluster: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# ---- dependencies and build ----
scripts/install-deps.sh
peers=(etcd-server etcd-client wrk python3)
missing=()
for p in "${peers[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "bench-cluster: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
scripts/build.sh >/dev/null
kvd=$root/build/server/kvd
kvbench=$root/build/client/bench/kvbench

work=$(mktemp -d /tmp/kvd-bench-cluster.XXXXXX)
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
  echo "bench-cluster: nothing listens on port $1" >&2
  return 1
}

cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "bench-cluster: $(nproc) CPUs ($cpu_model), $(uname -r); servers and clients unpinned"
echo "bench-cluster: $rounds round(s) of ${duration}s (+${warmup}s warm-up) per measurement"

# ---- kvd cluster ----
kvd_pids=()
kvd_endpoints=""
start_kvd_cluster() {  # start_kvd_cluster REPLICATION LEASE_READS
  local replication=$1 lease=$2 dir
  dir=$(mktemp -d "$work/kvd.XXXX")
  local ports=() members=""
  for i in 1 2 3; do
    local c p a
    c=$(free_port); p=$(free_port); a=$(free_port)
    ports+=("$c")
    members+="    - {id: $i, client: 127.0.0.1:$c, peer: 127.0.0.1:$p, admin: 127.0.0.1:$a}"$'\n'
  done
  cat > "$dir/cluster.yaml" <<EOF
node:
  mode: leader_follower
cluster:
  name: bench
  members:
$members
raft:
  replication: $replication
  lease_reads: $lease
storage:
  durability: always
log:
  level: warn
EOF
  kvd_pids=()
  for i in 1 2 3; do
    "$kvd" --config "$dir/cluster.yaml" --node-id "$i" --data-dir "$dir/n$i" 2> "$dir/n$i.log" &
    kvd_pids+=("$!")
    pids+=("$!")
  done
  kvd_endpoints="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
  for port in "${ports[@]}"; do wait_port "$port"; done
  # Wait for a leader: a write succeeds.
  for _ in $(seq 1 100); do
    if "$root/build/client/kvctl/kvctl" --endpoints "$kvd_endpoints" --timeout 2s \
        put bench-ready 1 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench-cluster: the kvd cluster elected no leader" >&2
  return 1
}
stop_kvd_cluster() {
  for pid in "${kvd_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${kvd_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# ---- etcd cluster ----
etcd_pids=()
etcd_leader_url=""
start_etcd_cluster() {
  local dir initial="" i
  dir=$(mktemp -d "$work/etcd.XXXX")
  local cports=() pports=()
  for i in 1 2 3; do
    cports+=("$(free_port)"); pports+=("$(free_port)")
    initial+="e$i=http://127.0.0.1:${pports[$((i - 1))]},"
  done
  initial=${initial%,}
  etcd_pids=()
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$dir/e$i" \
      --listen-client-urls "http://127.0.0.1:${cports[$((i - 1))]}" \
      --advertise-client-urls "http://127.0.0.1:${cports[$((i - 1))]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[$((i - 1))]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${pports[$((i - 1))]}" \
      --initial-cluster "$initial" --initial-cluster-state new --log-level error \
      > "$dir/e$i.log" 2>&1 &
    etcd_pids+=("$!")
    pids+=("$!")
  done
  for port in "${cports[@]}"; do wait_port "$port"; done
  local eps="127.0.0.1:${cports[0]},127.0.0.1:${cports[1]},127.0.0.1:${cports[2]}"
  for _ in $(seq 1 100); do
    local leader
    leader=$(ETCDCTL_API=3 etcdctl --endpoints "$eps" endpoint status -w json 2>/dev/null |
      python3 -c 'import json,sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]: print(s["Endpoint"])' \
      || true)
    if [ -n "$leader" ]; then
      etcd_leader_url="http://$leader"
      return 0
    fi
    sleep 0.1
  done
  echo "bench-cluster: the etcd cluster elected no leader" >&2
  return 1
}
stop_etcd_cluster() {
  for pid in "${etcd_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${etcd_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# wrk script: PUT of a random key among 100k with a 100-byte value, as JSON (base64).
cat > "$work/put.lua" <<'EOF'
local alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function b64(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end
local value = b64(string.rep('v', 100))
request = function()
  local key = b64(string.format('key%08d', math.random(0, 99999)))
  return wrk.format('POST', '/v3/kv/put', { ['Content-Type'] = 'application/json' },
    '{"key":"' .. key .. '","value":"' .. value .. '"}')
end
EOF

results=$work/results.jsonl
: > "$results"

record() {  # record LABEL TARGET THROUGHPUT P50_MS P99_MS ERRORS
  printf '{"label":"%s","target":"%s","throughput":%s,"p50_ms":%s,"p99_ms":%s,"errors":%s}\n' \
    "$@" >> "$results"
}

kvd_bench() {  # kvd_bench LABEL kvbench-args...
  local label=$1 json
  shift
  json=$("$kvbench" --target kvd --endpoints "$kvd_endpoints" --json --keys 100000 \
    --value-size 100 --duration "$duration" --warmup "$warmup" "$@")
  read -r tput p50 p99 errs < <(python3 -c 'import json,sys
r = json.loads(sys.argv[1])["run"]
print(r["throughput"], r["latency"]["all"]["p50_ms"], r["latency"]["all"]["p99_ms"],
      sum(r["errors"].values()))' "$json")
  record "$label" kvd "$tput" "$p50" "$p99" "$errs"
}

etcd_bench() {  # etcd_bench LABEL CONNECTIONS
  local label=$1 c=$2 threads=1 text
  [ "$c" -gt 1 ] && threads=2
  text=$(wrk -t"$threads" -c"$c" -d"${duration}s" --latency -s "$work/put.lua" \
    "$etcd_leader_url")
  read -r tput p50 p99 errs < <(python3 -c 'import re,sys
t = sys.argv[1]
def ms(s):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
tput = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
errs = int(bad.group(1)) if bad else 0
print(tput, p50, p99, errs)' "$text")
  record "$label" etcd "$tput" "$p50" "$p99" "$errs"
}

# ---- 1. kvd vs etcd, A B A B ----
echo "bench-cluster: kvd (quorum, fsync) vs etcd 3.4 (fsync), writes"
start_kvd_cluster quorum false
"$kvbench" --target kvd --endpoints "$kvd_endpoints" --load --ops 1 --warmup 0 --keys 100000 \
  --quiet > /dev/null
start_etcd_cluster
for round in $(seq 1 "$rounds"); do
  for c in 1 50; do
    echo "bench-cluster:   round $round: $c client(s)"
    kvd_bench "PUT, $c client(s)" --workload W --connections "$c" --pipeline 1
    etcd_bench "PUT, $c client(s)" "$c"
  done
done
stop_etcd_cluster

# ---- 3. reads at each consistency (same cluster) ----
echo "bench-cluster: kvd reads by consistency"
for round in $(seq 1 "$rounds"); do
  for level in linearizable leader follower; do
    kvd_bench "GET $level, 50 clients" --workload C --connections 50 --pipeline 1 \
      --consistency "$level"
  done
done
stop_kvd_cluster
start_kvd_cluster quorum true
"$kvbench" --target kvd --endpoints "$kvd_endpoints" --load --ops 1 --warmup 0 --keys 100000 \
  --quiet > /dev/null
for round in $(seq 1 "$rounds"); do
  kvd_bench "GET linearizable (lease), 50 clients" --workload C --connections 50 --pipeline 1 \
    --consistency linearizable
done
stop_kvd_cluster

# ---- 2. replication modes ----
echo "bench-cluster: kvd writes by replication mode"
for mode in quorum sync semi_sync async; do
  start_kvd_cluster "$mode" false
  for round in $(seq 1 "$rounds"); do
    for c in 1 50; do
      kvd_bench "PUT $mode, $c client(s)" --workload W --connections "$c" --pipeline 1
    done
  done
  stop_kvd_cluster
done

# ---- report ----
python3 - "$results" "$cpu_model" "$(nproc)" "$rounds" "$duration" "$out" <<'EOF'
import json, statistics, sys
path, cpu, ncpu, rounds, duration, out = sys.argv[1:]
rows = [json.loads(l) for l in open(path)]
labels = []
for r in rows:
    if r["label"] not in labels: labels.append(r["label"])
def med(label, target, field):
    v = [r[field] for r in rows if r["label"] == label and r["target"] == target]
    return statistics.median(v) if v else None
report = {"machine": {"cpus": int(ncpu), "cpu": cpu}, "rounds": int(rounds),
          "duration_s": float(duration), "comparisons": [], "kvd_only": []}
print()
print(f"Machine: {ncpu} CPUs, {cpu}; 3 nodes each, loopback, fsync before ack; "
      f"medians of {rounds} round(s) of {duration} s")
print()
hdr = (f"{'kvd vs etcd':<24}{'kvd ops/s':>11}{'etcd ops/s':>12}{'ratio':>7}"
       f"{'kvd p50/p99 ms':>18}{'etcd p50/p99 ms':>19}")
print(hdr)
print("-" * len(hdr))
for label in labels:
    e = med(label, "etcd", "throughput")
    if e is None: continue
    k = med(label, "kvd", "throughput")
    row = {"label": label, "kvd_ops": k, "etcd_ops": e, "ratio": k / e}
    for t in ("kvd", "etcd"):
        for f in ("p50_ms", "p99_ms"):
            row[f"{t}_{f}"] = med(label, t, f)
    row["errors"] = sum(r["errors"] for r in rows if r["label"] == label)
    report["comparisons"].append(row)
    print(f"{label:<24}{k:>11.0f}{e:>12.0f}{k / e:>7.2f}"
          f"{row['kvd_p50_ms']:>9.2f}/{row['kvd_p99_ms']:<8.2f}"
          f"{row['etcd_p50_ms']:>10.2f}/{row['etcd_p99_ms']:<8.2f}"
          + (f" ({row['errors']} errors)" if row["errors"] else ""))
print()
hdr = f"{'kvd alone':<40}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
print(hdr)
print("-" * len(hdr))
for label in labels:
    if med(label, "etcd", "throughput") is not None: continue
    row = {"label": label, "ops": med(label, "kvd", "throughput"),
           "p50_ms": med(label, "kvd", "p50_ms"), "p99_ms": med(label, "kvd", "p99_ms"),
           "errors": sum(r["errors"] for r in rows if r["label"] == label)}
    report["kvd_only"].append(row)
    print(f"{label:<40}{row['ops']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
          + (f" ({row['errors']} errors)" if row["errors"] else ""))
if out:
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nbench-cluster: wrote {out}")
EOF
