#include "tests/integration/cluster_harness.h"

#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace kvd::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Clusters alive in this process, for printing logs when a test fails.
struct Registry {
  std::mutex mu;
  std::vector<const ClusterHarness*> live;
  std::set<const ClusterHarness*> printed;
};
Registry& GetRegistry() {
  static Registry* r = new Registry();
  return *r;
}

std::string TailLines(const std::string& text, size_t max_lines) {
  // Walk back over max_lines line breaks (a last line without one counts too).
  size_t pos = text.size();
  if (pos > 0 && text.back() == '\n') --pos;
  for (size_t lines = 0; lines < max_lines; ++lines) {
    size_t nl = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
  }
  return fmt::format("[... {} bytes cut ...]\n{}", pos + 1, text.substr(pos + 1));
}

std::string ReadFile(const fs::path& path, uint64_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(from));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t FileSize(const fs::path& path) {
  std::error_code ec;
  uint64_t n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

}  // namespace

uint64_t RaftU64(const nlohmann::json& status, const char* field) {
  auto raft = status.find("raft");
  if (raft == status.end() || !raft->is_object()) return 0;
  auto it = raft->find(field);
  if (it == raft->end() || !it->is_number_unsigned()) return 0;
  return it->get<uint64_t>();
}

std::string LiveClusterLogs() {
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  std::string out;
  for (const ClusterHarness* c : r.live) {
    if (!r.printed.insert(c).second) continue;
    out += c->Logs();
  }
  return out;
}

ClusterHarness::ClusterHarness(ClusterOptions options)
    : options_(std::move(options)), dir_("kvd-cluster") {
  KVD_ASSERT(options_.nodes >= 1);
  // For debugging a failure: KVD_IT_LOG_LEVEL=debug raises every node's log level.
  if (const char* level = std::getenv("KVD_IT_LOG_LEVEL"); level != nullptr && *level != 0) {
    options_.log_level = level;
  }
  std::set<uint16_t> used;
  auto fresh = [&used] {
    uint16_t p = FreePort();
    while (!used.insert(p).second) p = FreePort();
    return p;
  };
  members_.resize(options_.nodes);
  for (Member& m : members_) {
    m.client_port = fresh();
    m.peer_port = fresh();
    m.admin_port = fresh();
  }
  KVD_ASSERT(options_.joiners < options_.nodes);
  auto make_yaml = [&](bool joiner) {
    std::string yaml = fmt::format(
        "# written by the cluster test harness (tests/integration/cluster_harness.cc)\n"
        "node:\n  mode: {}\ncluster:\n  name: {}\n  join: {}\n  members:\n",
        options_.mode, options_.cluster_name, joiner ? "true" : "false");
    const size_t listed = joiner ? members_.size() : members_.size() - options_.joiners;
    for (size_t i = 0; i < listed; ++i) {
      const Member& m = members_[i];
      yaml += fmt::format(
          "    - {{id: {}, client: 127.0.0.1:{}, peer: 127.0.0.1:{}, admin: 127.0.0.1:{}}}\n",
          id(i), m.client_port, m.peer_port, m.admin_port);
    }
    if (!options_.raft_yaml.empty()) yaml += "raft:\n" + options_.raft_yaml;
    if (!options_.multi_leader_yaml.empty()) {
      yaml += "multi_leader:\n" + options_.multi_leader_yaml;
    }
    if (!options_.storage_yaml.empty()) yaml += "storage:\n" + options_.storage_yaml;
    yaml += fmt::format("log:\n  level: {}\n", options_.log_level);
    yaml += options_.extra_yaml;
    return yaml;
  };
  config_yaml_ = make_yaml(false);
  if (options_.joiners > 0) joiner_yaml_ = make_yaml(true);
  nodes_.resize(members_.size());
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  r.live.push_back(this);
}

ClusterHarness::~ClusterHarness() {
  client_.reset();
  // An exception other than a failed REQUIRE (which the listener has reported) is
  // unwinding: print the logs before they are deleted.
  if (std::uncaught_exceptions() > 0) {
    Registry& r = GetRegistry();
    bool print = false;
    {
      std::lock_guard lock(r.mu);
      print = r.printed.insert(this).second;
    }
    if (print) std::cerr << Logs() << std::flush;
  }
  for (auto& n : nodes_) {
    if (n) n->Kill9();
  }
  nodes_.clear();
  // For debugging: KVD_IT_KEEP_LOGS=DIR keeps every node's whole log in DIR/<cluster dir>/.
  if (const char* keep = std::getenv("KVD_IT_KEEP_LOGS"); keep != nullptr && *keep != 0) {
    std::error_code ec;
    fs::path to = fs::path(keep) / dir_.path().filename();
    fs::create_directories(to, ec);
    for (size_t i = 0; i < size(); ++i) {
      fs::copy_file(log_path(i), to / log_path(i).filename(), ec);
    }
    std::ofstream(to / "kvd.yaml") << config_yaml_;
  }
  Registry& r = GetRegistry();
  std::lock_guard lock(r.mu);
  std::erase(r.live, this);
  r.printed.erase(this);
}

std::string ClusterHarness::endpoint(size_t i) const {
  return fmt::format("127.0.0.1:{}", members_.at(i).client_port);
}

std::string ClusterHarness::peer_endpoint(size_t i) const {
  return fmt::format("127.0.0.1:{}", members_.at(i).peer_port);
}

std::string ClusterHarness::admin_endpoint(size_t i) const {
  return fmt::format("127.0.0.1:{}", members_.at(i).admin_port);
}

std::vector<std::string> ClusterHarness::endpoints() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
  return out;
}

fs::path ClusterHarness::data_dir(size_t i) const {
  return dir_.path() / fmt::format("node-{}", id(i));
}

fs::path ClusterHarness::log_path(size_t i) const {
  return dir_.path() / fmt::format("node-{}.log", id(i));
}

Status ClusterHarness::StartNode(size_t i) {
  KVD_ASSERT(!nodes_.at(i) || !nodes_[i]->running());
  Member& m = members_.at(i);
  KvdOptions o;
  o.yaml = joiner(i) ? joiner_yaml_ : config_yaml_;
  o.port = m.client_port;
  o.admin_port = m.admin_port;
  o.listen_flags = false;
  o.log_path = log_path(i);
  o.extra_args = {"--node-id", std::to_string(id(i))};
  // A port of a stopped node may be taken for a moment by some process's outgoing
  // connection (ports come from the ephemeral range): retry a start that failed so.
  auto deadline = Clock::now() + options_.start_deadline;
  while (true) {
    ++m.starts;
    uint64_t from = FileSize(log_path(i));
    {
      std::ofstream(log_path(i), std::ios::app)
          << fmt::format("==== harness: start #{} of node {} (client {}, data dir {}) ====\n",
                         m.starts, id(i), endpoint(i), data_dir(i).string());
    }
    nodes_[i].reset();  // its config dir goes; the log and data dir stay
    nodes_[i] = std::make_unique<KvdProcess>(o, data_dir(i));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    Status s = nodes_[i]->Start(std::max(left, 1000ms));
    if (s.ok()) return s;
    std::string log = ReadFile(log_path(i), from);
    bool port_taken = log.find("in use") != std::string::npos &&
                      log.find("in use by another kvd") == std::string::npos;
    if (!port_taken || Clock::now() >= deadline) {
      return Status(s.code(),
                    fmt::format("node {} did not start: {}\nlog of this start:\n{}", id(i),
                                s.code() == Code::kTimeout ? "no PING answer" : "it exited", log));
    }
    std::this_thread::sleep_for(200ms);
  }
}

Status ClusterHarness::Start() {
  for (size_t i = 0; i < size(); ++i) {
    if (!joiner(i)) KVD_TRY(StartNode(i));
  }
  if (options_.mode != "leader_follower") return Status::Ok();  // no leader to wait for
  Result<size_t> leader = Leader(options_.start_deadline);
  if (!leader.ok()) return leader.status();
  return Status::Ok();
}

bool ClusterHarness::running(size_t i) { return nodes_.at(i) && nodes_[i]->running(); }

void ClusterHarness::Kill9(size_t i) {
  if (nodes_.at(i)) nodes_[i]->Kill9();
}

int ClusterHarness::Terminate(size_t i) { return nodes_.at(i) ? nodes_[i]->Terminate() : -1; }

Status ClusterHarness::Restart(size_t i) { return StartNode(i); }

Status ClusterHarness::WipeAndRestart(size_t i) {
  KVD_ASSERT(!running(i));
  std::error_code ec;
  fs::remove_all(data_dir(i), ec);
  if (ec) return Status::IOError(fmt::format("remove {}: {}", data_dir(i).string(), ec.message()));
  return StartNode(i);
}

std::unique_ptr<client::Client> ClusterHarness::NewClient(client::ClientOptions options) const {
  options.endpoints = endpoints();
  return std::make_unique<client::Client>(std::move(options));
}

client::Client& ClusterHarness::client() {
  if (!client_) {
    client::ClientOptions o;
    o.request_timeout = 10s;
    client_ = NewClient(o);
  }
  return *client_;
}

std::unique_ptr<client::Client> ClusterHarness::NodeClient(
    size_t i, std::chrono::milliseconds timeout) const {
  client::ClientOptions o;
  o.endpoints = {endpoint(i)};
  o.connect_timeout = std::min<std::chrono::milliseconds>(timeout, 1000ms);
  o.request_timeout = timeout;
  o.follow_redirects = false;
  return std::make_unique<client::Client>(std::move(o));
}

Result<nlohmann::json> ClusterHarness::StatusJson(size_t i, std::chrono::milliseconds timeout) {
  if (!running(i)) return Status::Unavailable(fmt::format("node {} is not running", id(i)));
  auto c = NodeClient(i, timeout);
  KVD_ASSIGN_OR_RETURN(std::string text, c->StatusJson());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::ProtocolError(fmt::format("node {}: STATUS is not JSON: {}", id(i), text));
  }
  return j;
}

namespace {

// What one poll saw, for timeout messages.
std::string Describe(const nlohmann::json& j) {
  return fmt::format("role {} term {} leader_id {} commit {} applied {}",
                     j.value("role", std::string("?")), RaftU64(j, "term"), RaftU64(j, "leader_id"),
                     RaftU64(j, "commit_index"), RaftU64(j, "applied_index"));
}

}  // namespace

std::optional<size_t> ClusterHarness::CurrentLeader() {
  std::vector<size_t> leaders;
  uint64_t max_term = 0, leader_term = 0;
  for (size_t i = 0; i < size(); ++i) {
    Result<nlohmann::json> s = StatusJson(i, 1000ms);
    if (!s.ok()) continue;
    uint64_t term = RaftU64(*s, "term");
    max_term = std::max(max_term, term);
    if (s->value("role", std::string()) == "leader") {
      leaders.push_back(i);
      leader_term = term;
    }
  }
  if (leaders.size() != 1 || leader_term < max_term) return std::nullopt;
  return leaders.front();
}

Result<size_t> ClusterHarness::Leader(std::chrono::milliseconds deadline_after) {
  auto deadline = Clock::now() + deadline_after;
  while (true) {
    if (std::optional<size_t> l = CurrentLeader()) return *l;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  std::string seen;
  for (size_t i = 0; i < size(); ++i) {
    Result<nlohmann::json> s = StatusJson(i, 1000ms);
    seen += fmt::format("\n  node {}: {}", id(i), s.ok() ? Describe(*s) : s.status().ToString());
  }
  return Status::Timeout(
      fmt::format("no single leader within {} ms; last seen:{}", deadline_after.count(), seen));
}

Status ClusterHarness::WaitForLeader(size_t want, std::chrono::milliseconds deadline_after) {
  auto deadline = Clock::now() + deadline_after;
  std::optional<size_t> last;
  while (Clock::now() < deadline) {
    last = CurrentLeader();
    if (last == want) return Status::Ok();
    std::this_thread::sleep_for(20ms);
  }
  return Status::Timeout(
      fmt::format("node {} did not become the single leader within {} ms "
                  "(last seen: {})",
                  id(want), deadline_after.count(),
                  last ? fmt::format("node {}", id(*last)) : "no single leader"));
}

Result<std::string> ClusterHarness::Admin(size_t i, wire::AdminAction action, uint64_t node_id,
                                          std::chrono::milliseconds timeout) {
  auto c = NodeClient(i, timeout);
  wire::Request r;
  r.body = wire::AdminRequest{action, node_id, "", ""};
  KVD_ASSIGN_OR_RETURN(wire::Response resp, c->Call(std::move(r)));
  if (!resp.ok()) return resp.ToStatus();
  const auto* body = std::get_if<wire::AdminResponse>(&resp.body);
  if (body == nullptr) return Status::ProtocolError("ADMIN answered without an admin body");
  return body->json;
}

Status ClusterHarness::WaitApplied(size_t i, uint64_t index,
                                   std::chrono::milliseconds deadline_after) {
  auto deadline = Clock::now() + deadline_after;
  std::string last = "no answer";
  while (true) {
    Result<nlohmann::json> s = StatusJson(i, 1000ms);
    if (s.ok()) {
      if (RaftU64(*s, "applied_index") >= index) return Status::Ok();
      last = Describe(*s);
    } else {
      last = s.status().ToString();
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(20ms);
  }
  return Status::Timeout(fmt::format("node {} did not apply index {} within {} ms; last: {}", id(i),
                                     index, deadline_after.count(), last));
}

std::string ClusterHarness::Logs(size_t max_lines) const {
  std::string out = fmt::format("======== logs of the {}-node cluster in {} ========\n", size(),
                                dir_.path().string());
  for (size_t i = 0; i < size(); ++i) {
    out += fmt::format("-------- node {} (client {}, peer 127.0.0.1:{}) --------\n", id(i),
                       endpoint(i), members_[i].peer_port);
    out += TailLines(ReadFile(log_path(i)), max_lines);
  }
  out += "======== end of cluster logs ========\n";
  return out;
}

}  // namespace kvd::test
