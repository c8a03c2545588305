// ae_bench: what one full anti-entropy pass of the dynamo topology costs, in process.
//
// It builds a ring of `--nodes` Coordinators (server/topology/dynamo/coordinator.h, the
// deterministic core kvd runs; here with N = --replicas, anti_entropy_interval_ms = 1 and
// merkle_depth = --depth) over in-memory LocalStores, and gives every replica of each of
// `--keys` keys the same encoded kv::KeyState (an lww PUT coordinated by its first
// replica). Then it ticks node 1 once per simulated millisecond, so that it starts one
// exchange (one of its token ranges with one other replica of it) per tick, and delivers
// every message at once until nothing is in flight, until node 1 has started
// ranges x (N - 1) exchanges: every range it replicates compared once with each other
// replica (a "full pass": Coordinator::StartExchange walks its ranges in turn, and round r
// of the walk uses the r-th other replica). Only node 1 ticks; the others answer.
//
// It measures the pass's wall time (the cores' CPU work, with delivery free and instant:
// no network, no disk, no pacing), its messages and their bytes (the sum of the
// Envelope sizes, by message type), and what crossed the wire as key states; first with
// identical replicas, then with a fraction (--differ, percent) of node 3's keys one write
// behind the others (it missed their latest PUT), which the pass must find and repair.
// A pass at the configured pace takes exchanges x anti_entropy_interval_ms of real time;
// the report prints that too for kvd's default interval.
//
//   ae_bench [--keys 1000000] [--nodes 3] [--tokens 256] [--replicas 3] [--depth 10]
//            [--differ 1] [--value-size 100] [--json]
//
// Exit status: 0 done; 1 the pass did not converge as expected; 2 usage error.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ring/ring.h"
#include "server/kv/replicated_state.h"
#include "server/topology/dynamo/coordinator.h"

namespace po = boost::program_options;
using namespace kvd;
using topology::dynamo::Coordinator;
using topology::dynamo::CoordinatorOutput;
using topology::dynamo::QuorumConfig;

namespace {

using Clock = std::chrono::steady_clock;

// Peer message types of coordinator.cc that anti-entropy uses (its first byte).
constexpr uint8_t kAeHashes = 10;
constexpr uint8_t kAeEntries = 11;
// kvd's default dynamo.anti_entropy_interval_ms (config/dynamo-5.yaml).
constexpr uint64_t kDefaultIntervalMs = 1000;

// A node's key states in memory, as the driver would hold them.
class MemoryStore final : public topology::LocalStore {
 public:
  std::optional<kv::KeyState> Load(const std::string& key) override {
    auto it = data_.find(key);
    if (it == data_.end()) return std::nullopt;
    Result<kv::KeyState> st = kv::KeyState::Decode(key, it->second, kv::ReplicatedLimits{});
    KVD_ASSERT(st.ok());
    return std::move(st).value();
  }
  void ForEach(const std::function<void(const std::string&, const std::string&)>& fn) override {
    for (const auto& [key, state] : data_) fn(key, state);
  }
  void Put(const std::string& key, std::string state) { data_[key] = std::move(state); }
  const std::string* Find(const std::string& key) const {
    auto it = data_.find(key);
    return it == data_.end() ? nullptr : &it->second;
  }
  void Reserve(size_t n) { data_.reserve(n); }
  size_t size() const { return data_.size(); }

 private:
  std::unordered_map<std::string, std::string> data_;
};

std::string KeyName(uint64_t i) { return fmt::format("key:{:012}", i); }

// The state of `key` after an lww PUT of `value` coordinated by `origin` at `wall_ms`, on
// top of `base` (nullopt: the first write).
kv::KeyState PutState(const std::string& key, const std::string& value, uint64_t origin,
                      uint64_t wall_ms, std::optional<kv::KeyState> base) {
  kv::KeyState st = base ? std::move(*base) : kv::KeyState(kv::Resolver::kLww);
  kv::Change c;
  c.hlc = clock::HlcTimestamp::From(wall_ms, 0);
  c.dot = clock::Dot{origin, c.hlc.packed()};  // as Coordinator::StartWrite names lww writes
  c.resolver = kv::Resolver::kLww;
  c.op = kv::ChangeOp::kPut;
  c.key = key;
  c.value = value;
  const kv::Outcome o = st.Apply(c);
  KVD_ASSERT(o.changed);
  return st;
}

struct Options {
  uint64_t keys = 1'000'000;
  uint64_t nodes = 3;
  uint32_t tokens = 256;
  size_t replicas = 3;
  uint32_t depth = 10;
  double differ_percent = 1;
  size_t value_size = 100;
};

struct PassResult {
  double seconds = 0;
  uint64_t exchanges = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  std::map<uint8_t, std::pair<uint64_t, uint64_t>> by_type;  // type -> (messages, bytes)
  uint64_t hashes_sent = 0;                                  // ae_hashes_sent_total, all nodes
  uint64_t keys_sent = 0;                                    // ae_keys_sent_total, all nodes
  uint64_t states_written = 0;    // key states a node changed by merging (repairs)
  uint64_t differing_before = 0;  // keys whose replicas differ before the pass
  uint64_t stale_left = 0;        // keys still differing between replicas afterwards
  double setup_seconds = 0;       // building the Coordinators (their Merkle trees)
};

uint64_t Counter(const Coordinator& c, const std::string& name) {
  const auto counters = c.Counters();
  auto it = counters.find(name);
  return it == counters.end() ? 0 : it->second;
}

// One full pass of node 1 over stores built from `o`; with differences, some keys of node 3
// (of those node 1 replicates too) lag one write.
PassResult RunPass(const Options& o, const ring::Ring& ring, bool with_differences) {
  std::map<uint64_t, std::unique_ptr<MemoryStore>> stores;
  for (const ring::NodeSpec& spec : ring.nodes()) {
    stores[spec.id] = std::make_unique<MemoryStore>();
    stores[spec.id]->Reserve(o.keys * o.replicas / ring.size() + o.keys / 10);
  }
  // Every key: one PUT everywhere; 1 in (100 / differ) of those node 3 replicates also a
  // second PUT, which node 3 missed.
  const uint64_t stride =
      o.differ_percent > 0 ? static_cast<uint64_t>(100.0 / o.differ_percent + 0.5) : 0;
  const std::string value(o.value_size, 'v');
  const std::string newer(o.value_size, 'w');
  PassResult res;
  for (uint64_t i = 0; i < o.keys; ++i) {
    const std::string key = KeyName(i);
    const std::vector<uint64_t> replicas = ring.Replicas(key, o.replicas);
    kv::KeyState first = PutState(key, value, replicas[0], 1'700'000'000'000 + i, std::nullopt);
    std::string first_bytes = first.Encode();
    // Only keys node 1 replicates too: node 1's pass is what must repair them.
    const bool lag = with_differences && stride != 0 && i % stride == 0 &&
                     std::find(replicas.begin(), replicas.end(), 3) != replicas.end() &&
                     std::find(replicas.begin(), replicas.end(), 1) != replicas.end();
    std::string latest_bytes = first_bytes;
    if (lag) {
      latest_bytes =
          PutState(key, newer, replicas[0], 1'800'000'000'000 + i, std::move(first)).Encode();
      ++res.differing_before;
    }
    for (uint64_t r : replicas) stores[r]->Put(key, r == 3 ? first_bytes : latest_bytes);
  }
  QuorumConfig q;
  q.n = o.replicas;
  q.r = q.w = o.replicas / 2 + 1;
  q.anti_entropy_interval_ms = 1;
  q.merkle_depth = o.depth;
  const auto setup_start = Clock::now();
  std::map<uint64_t, std::unique_ptr<Coordinator>> nodes;
  for (const auto& [id, store] : stores) {
    nodes[id] = std::make_unique<Coordinator>(id, ring, q, store.get());
  }
  res.setup_seconds = std::chrono::duration<double>(Clock::now() - setup_start).count();

  size_t ranges_of_1 = 0;
  for (const ring::TokenRange& r : ring.Ranges(o.replicas)) {
    if (std::find(r.replicas.begin(), r.replicas.end(), 1) != r.replicas.end()) ++ranges_of_1;
  }
  const uint64_t target = ranges_of_1 * (o.replicas - 1);
  Coordinator& node1 = *nodes.at(1);
  struct InFlight {
    uint64_t from;
    uint64_t to;
    std::string bytes;
  };
  std::deque<InFlight> queue;
  auto collect = [&](uint64_t id) {
    CoordinatorOutput out = nodes.at(id)->TakeOutput();
    for (topology::dynamo::StateWrite& w : out.writes) {
      ++res.states_written;
      stores.at(id)->Put(w.key, std::move(w.state));
    }
    for (topology::Envelope& e : out.send) {
      ++res.messages;
      res.bytes += e.bytes.size();
      auto& t = res.by_type[e.bytes.empty() ? 0 : static_cast<uint8_t>(e.bytes[0])];
      ++t.first;
      t.second += e.bytes.size();
      queue.push_back(InFlight{id, e.to, std::move(e.bytes)});
    }
  };
  const auto start = Clock::now();
  uint64_t now_ms = 1;
  while (Counter(node1, "ae_exchanges_total") < target) {
    node1.Tick(now_ms);
    collect(1);
    while (!queue.empty()) {
      InFlight m = std::move(queue.front());
      queue.pop_front();
      nodes.at(m.to)->OnMessage(m.from, m.bytes, now_ms);
      collect(m.to);
    }
    ++now_ms;
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  res.exchanges = Counter(node1, "ae_exchanges_total");
  for (const auto& [id, node] : nodes) {
    res.hashes_sent += Counter(*node, "ae_hashes_sent_total");
    res.keys_sent += Counter(*node, "ae_keys_sent_total");
  }
  // Afterwards every replica of every key must hold the same state.
  for (uint64_t i = 0; i < o.keys; ++i) {
    const std::string key = KeyName(i);
    const std::vector<uint64_t> replicas = ring.Replicas(key, o.replicas);
    const std::string* first = stores.at(replicas[0])->Find(key);
    for (uint64_t r : replicas) {
      const std::string* mine = stores.at(r)->Find(key);
      if (first == nullptr || mine == nullptr || *mine != *first) {
        ++res.stale_left;
        break;
      }
    }
  }
  return res;
}

nlohmann::json ToJson(const PassResult& r) {
  nlohmann::json types;
  for (const auto& [type, mb] : r.by_type) {
    const char* name = type == kAeHashes    ? "ae_hashes"
                       : type == kAeEntries ? "ae_entries"
                                            : "other";
    types[name] = {{"messages", mb.first}, {"bytes", mb.second}};
  }
  return {{"seconds", r.seconds},
          {"setup_seconds", r.setup_seconds},
          {"exchanges", r.exchanges},
          {"messages", r.messages},
          {"bytes", r.bytes},
          {"by_type", types},
          {"hashes_sent", r.hashes_sent},
          {"keys_sent", r.keys_sent},
          {"states_written", r.states_written},
          {"keys_differing_before", r.differing_before},
          {"keys_differing_after", r.stale_left}};
}

void PrintPass(const char* title, const PassResult& r) {
  fmt::print("\n{}\n", title);
  fmt::print("  pass: {:.3f} s wall ({} exchanges; Merkle trees built in {:.2f} s before it)\n",
             r.seconds, r.exchanges, r.setup_seconds);
  fmt::print("  messages: {}, bytes: {} ({:.1f} KiB)\n", r.messages, r.bytes,
             static_cast<double>(r.bytes) / 1024);
  for (const auto& [type, mb] : r.by_type) {
    const char* name = type == kAeHashes    ? "AE hashes"
                       : type == kAeEntries ? "AE entries"
                                            : "other";
    fmt::print("    {:<11} {:>9} messages {:>12} bytes\n", name, mb.first, mb.second);
  }
  fmt::print("  hashes sent: {}, key states sent: {}, key states repaired: {}\n", r.hashes_sent,
             r.keys_sent, r.states_written);
  fmt::print("  keys whose replicas differ: {} before the pass, {} after\n", r.differing_before,
             r.stale_left);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description desc(
      "ae_bench: the cost of one full anti-entropy pass of a dynamo node, in process\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")("keys", po::value(&o.keys)->default_value(o.keys),
                                                 "keys in the ring")(
      "nodes", po::value(&o.nodes)->default_value(o.nodes), "ring nodes (ids 1..nodes), >= 3")(
      "tokens", po::value(&o.tokens)->default_value(o.tokens), "tokens (virtual nodes) per node")(
      "replicas", po::value(&o.replicas)->default_value(o.replicas), "N, replicas per key")(
      "depth", po::value(&o.depth)->default_value(o.depth), "merkle_depth (levels per tree)")(
      "differ", po::value(&o.differ_percent)->default_value(o.differ_percent),
      "second pass: percent of node 3's keys one write behind (0: skip)")(
      "value-size", po::value(&o.value_size)->default_value(o.value_size), "value bytes")(
      "json", "print the result as JSON");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ae_bench: " << e.what() << " (see ae_bench --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (o.nodes < 3 || o.replicas < 2 || o.replicas > o.nodes || o.keys == 0 || o.depth < 4 ||
      o.depth > topology::dynamo::MerkleTree::kMaxDepth || o.differ_percent < 0 ||
      o.differ_percent > 100) {
    std::cerr << "ae_bench: need --nodes >= 3, 2 <= --replicas <= --nodes, --keys >= 1, "
                 "--depth 4..20, --differ 0..100\n";
    return 2;
  }
  std::vector<ring::NodeSpec> specs;
  for (uint64_t id = 1; id <= o.nodes; ++id) specs.push_back(ring::NodeSpec{id, o.tokens, ""});
  Result<ring::Ring> ring = ring::Ring::Make(specs);
  if (!ring.ok()) {
    std::cerr << "ae_bench: " << ring.status().ToString() << "\n";
    return 2;
  }
  const bool json = vm.count("json") > 0;
  if (!json) {
    fmt::print("ae_bench: {} keys on {} nodes x {} tokens, N={}, merkle_depth {}, {}-byte values\n",
               o.keys, o.nodes, o.tokens, o.replicas, o.depth, o.value_size);
  }
  const PassResult same = RunPass(o, *ring, /*with_differences=*/false);
  if (!json) PrintPass("identical replicas:", same);
  std::optional<PassResult> differing;
  if (o.differ_percent > 0) {
    differing = RunPass(o, *ring, /*with_differences=*/true);
    if (!json) {
      PrintPass(fmt::format("{:g}% of node 3's keys one write behind:", o.differ_percent).c_str(),
                *differing);
    }
  }
  if (json) {
    nlohmann::json j = {{"keys", o.keys},           {"nodes", o.nodes},
                        {"tokens", o.tokens},       {"replicas", o.replicas},
                        {"merkle_depth", o.depth},  {"value_size", o.value_size},
                        {"identical", ToJson(same)}};
    if (differing) {
      j["differing"] = ToJson(*differing);
      j["differ_percent"] = o.differ_percent;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    fmt::print(
        "\nAt kvd's default anti_entropy_interval_ms ({} ms, one exchange per interval), "
        "this pass takes {:.1f} minutes of real time.\n",
        kDefaultIntervalMs, static_cast<double>(same.exchanges * kDefaultIntervalMs) / 60000.0);
  }
  const bool converged = same.stale_left == 0 && (!differing || differing->stale_left == 0);
  if (!converged) std::cerr << "ae_bench: replicas still differ after the pass\n";
  return converged ? 0 : 1;
}
