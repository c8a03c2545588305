#include "tests/torture/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "client/lib/client.h"

namespace kvd::torture {

namespace {

using namespace std::chrono_literals;

constexpr const char* kFaketimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  parts.push_back(cur);
  return parts;
}

// Sets root[a][b][c] = value for "a.b.c". Values that parse as YAML scalars keep their
// type when kvd reads them (the file is text).
Status SetField(YAML::Node root, const std::string& dotted, const std::string& value) {
  const std::vector<std::string> path = Split(dotted, '.');
  for (const std::string& part : path) {
    if (part.empty()) return Status::InvalidArgument(fmt::format("--set {}: an empty field name", dotted));
  }
  YAML::Node node = root;
  for (size_t k = 0; k + 1 < path.size(); ++k) {
    YAML::Node child = node[path[k]];
    if (!child.IsDefined() || child.IsNull()) {
      node[path[k]] = YAML::Node(YAML::NodeType::Map);
    } else if (!child.IsMap()) {
      return Status::InvalidArgument(
          fmt::format("--set {}: {} is not a section of the template", dotted, path[k]));
    }
    node.reset(node[path[k]]);
  }
  node[path.back()] = YAML::Load(value);
  return Status::Ok();
}

}  // namespace

uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  uint16_t port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

Result<std::unique_ptr<Cluster>> Cluster::Make(ClusterOptions options, Hosts* hosts) {
  std::unique_ptr<Cluster> c(new Cluster());
  c->options_ = std::move(options);
  c->hosts_ = hosts;
  YAML::Node root;
  try {
    root = YAML::LoadFile(c->options_.config_template.string());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(
        fmt::format("config template {}: {}", c->options_.config_template.string(), e.what()));
  }
  if (!root.IsMap()) {
    return Status::InvalidArgument(fmt::format("config template {}: not a YAML mapping",
                                               c->options_.config_template.string()));
  }
  c->mode_ = root["node"] && root["node"]["mode"] ? root["node"]["mode"].as<std::string>()
                                                 : std::string("single");
  size_t n = 1;
  if (c->mode_ != "single") {
    if (!root["cluster"] || !root["cluster"]["members"] || !root["cluster"]["members"].IsSequence() ||
        root["cluster"]["members"].size() == 0) {
      return Status::InvalidArgument(fmt::format(
          "config template {}: node.mode {} needs cluster.members", c->options_.config_template.string(),
          c->mode_));
    }
    n = root["cluster"]["members"].size();
  }
  if (hosts->size() < n) {
    return Status::InvalidArgument(
        fmt::format("the template has {} nodes but only {} hosts were made", n, hosts->size()));
  }
  c->nodes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Node& node = c->nodes_[i];
    if (hosts->netns()) {  // every node has its own address: the same ports everywhere
      node.client_port = 7379;
      node.peer_port = 7479;
      node.admin_port = 7579;
    } else {
      node.client_port = FreeLoopbackPort();
      node.peer_port = FreeLoopbackPort();
      node.admin_port = FreeLoopbackPort();
    }
  }
  if (c->mode_ == "single") {
    root["server"]["listen"] = fmt::format("{}:{}", hosts->address(0), c->nodes_[0].client_port);
    root["server"]["admin_listen"] = fmt::format("{}:{}", hosts->address(0), c->nodes_[0].admin_port);
  } else {
    YAML::Node members = root["cluster"]["members"];
    for (size_t i = 0; i < n; ++i) {
      YAML::Node m = members[i];
      m["id"] = i + 1;
      m["client"] = fmt::format("{}:{}", hosts->address(i), c->nodes_[i].client_port);
      m["peer"] = fmt::format("{}:{}", hosts->address(i), c->nodes_[i].peer_port);
      m["admin"] = fmt::format("{}:{}", hosts->address(i), c->nodes_[i].admin_port);
    }
    root["cluster"]["name"] = c->options_.cluster_name;
    root["cluster"]["join"] = false;
  }
  root["log"]["file"] = "";
  for (const std::string& o : c->options_.overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(
          fmt::format("--set {}: expected FIELD=VALUE, e.g. raft.replication=async", o));
    }
    try {
      Status set = SetField(root, o.substr(0, eq), o.substr(eq + 1));
      if (!set.ok()) return set;
    } catch (const std::exception& e) {
      return Status::InvalidArgument(fmt::format("--set {}: {}", o, e.what()));
    }
  }
  if (root["node"] && root["node"]["mode"]) c->mode_ = root["node"]["mode"].as<std::string>();
  YAML::Emitter out;
  out << root;
  c->config_text_ = std::string(out.c_str()) + "\n";
  std::filesystem::create_directories(c->options_.dir);
  c->config_path_ = c->options_.dir / "kvd.yaml";
  std::ofstream f(c->config_path_);
  f << c->config_text_;
  if (!f) return Status::IOError(fmt::format("cannot write {}", c->config_path_.string()));
  if (c->mode_ != "single") {
    root["cluster"]["join"] = true;
    YAML::Emitter join;
    join << root;
    c->join_config_path_ = c->options_.dir / "kvd-join.yaml";
    std::ofstream jf(c->join_config_path_);
    jf << join.c_str() << "\n";
    if (!jf) return Status::IOError(fmt::format("cannot write {}", c->join_config_path_.string()));
  }
  return c;
}

Cluster::~Cluster() {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < nodes_.size(); ++i) KillLocked(i);
}

std::string Cluster::endpoint(size_t i) const {
  return fmt::format("{}:{}", hosts_->address(i), nodes_.at(i).client_port);
}

std::vector<std::string> Cluster::endpoints() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < nodes_.size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::filesystem::path Cluster::log_path(size_t i) const {
  return options_.dir / fmt::format("node-{}.log", i + 1);
}

std::string Cluster::Field(const std::string& dotted) const {
  try {
    YAML::Node node = YAML::Load(config_text_);
    for (const std::string& part : Split(dotted, '.')) {
      if (!node.IsMap() || !node[part]) return "";
      node.reset(node[part]);
    }
    return node.IsScalar() ? node.as<std::string>() : "";
  } catch (const std::exception&) {
    return "";
  }
}

Status Cluster::StartAll() {
  for (size_t i = 0; i < size(); ++i) {
    if (running(i)) continue;
    Status s = Start(i);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Cluster::Start(size_t i, const std::string& faketime) {
  return StartWith(i, faketime, config_path_);
}

Status Cluster::StartJoining(size_t i) {
  if (join_config_path_.empty()) return Status::InvalidArgument("a single node cannot join");
  return StartWith(i, "", join_config_path_);
}

Status Cluster::Wipe(size_t i) {
  if (running(i)) return Status::InvalidArgument(fmt::format("node {} is running", i + 1));
  std::error_code ec;
  std::filesystem::remove_all(options_.dir / fmt::format("data-{}", i + 1), ec);
  if (ec) return Status::IOError(fmt::format("wiping node {}: {}", i + 1, ec.message()));
  return Status::Ok();
}

std::string Cluster::peer_endpoint(size_t i) const {
  return fmt::format("{}:{}", hosts_->address(i), nodes_.at(i).peer_port);
}

Status Cluster::StartWith(size_t i, const std::string& faketime, const std::filesystem::path& config) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_.at(i);
  if (node.pid > 0) return Status::InvalidArgument(fmt::format("node {} is running", i + 1));
  const std::filesystem::path data = options_.dir / fmt::format("data-{}", i + 1);
  std::filesystem::create_directories(data);
  std::vector<std::string> argv = hosts_->exec_prefix(i);
  if (!faketime.empty()) {
    argv.push_back("env");
    argv.push_back(fmt::format("LD_PRELOAD={}", kFaketimeLib));
    argv.push_back(fmt::format("FAKETIME={}", faketime));
    argv.push_back("FAKETIME_DONT_FAKE_MONOTONIC=1");
  }
  argv.push_back(options_.kvd_binary.string());
  argv.push_back("--config");
  argv.push_back(config.string());
  if (mode_ != "single") {
    argv.push_back("--node-id");
    argv.push_back(std::to_string(i + 1));
  }
  argv.push_back("--data-dir");
  argv.push_back(data.string());
  const std::string log = log_path(i).string();
  {
    std::ofstream(log, std::ios::app) << fmt::format("=== kvd-torture: starting node {}{}\n", i + 1,
                                                     faketime.empty() ? "" : " with FAKETIME=" + faketime);
  }
  std::vector<char*> args;  // built before fork: the child only execs
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IOError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (fd > 2) ::close(fd);
    }
    // Nothing else of the tool's (its client connections above all) goes to the node.
    ::close_range(3, ~0U, 0);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: a signal sent right away reaches the group
  node.pid = pid;
  node.paused = false;
  return WaitPing(i);
}

Status Cluster::WaitPing(size_t i) {
  const auto until = std::chrono::steady_clock::now() + options_.start_deadline;
  client::ClientOptions o;
  o.endpoints = {endpoint(i)};
  o.connect_timeout = 500ms;
  o.request_timeout = 1000ms;
  o.follow_redirects = false;
  while (std::chrono::steady_clock::now() < until) {
    {
      client::Client c(o);
      if (c.Ping().ok()) return Status::Ok();
    }
    int status = 0;  // (mu_ is held: StartWith calls this)
    if (::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
      nodes_[i].pid = -1;
      return Status::Unavailable(fmt::format("node {} exited while starting; its log ends:\n{}",
                                             i + 1, LogTail(i)));
    }
    std::this_thread::sleep_for(100ms);
  }
  return Status::Timeout(fmt::format("node {} did not answer PING at {} within {} ms; its log ends:\n{}",
                                     i + 1, endpoint(i), options_.start_deadline.count(), LogTail(i)));
}

void Cluster::Kill(size_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  KillLocked(i);
}

void Cluster::KillLocked(size_t i) {
  Node& node = nodes_.at(i);
  if (node.pid <= 0) return;
  // The process group: with `ip netns exec` or `env` in front, kvd is a child or the
  // exec'd image of the same group.
  ::kill(-node.pid, SIGKILL);
  ::kill(node.pid, SIGKILL);
  int status = 0;
  ::waitpid(node.pid, &status, 0);
  node.pid = -1;
  node.paused = false;
}

Status Cluster::Pause(size_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_.at(i);
  if (node.pid <= 0) return Status::InvalidArgument(fmt::format("node {} is not running", i + 1));
  if (::kill(-node.pid, SIGSTOP) != 0) return Status::IOError(std::strerror(errno));
  node.paused = true;
  return Status::Ok();
}

Status Cluster::Resume(size_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_.at(i);
  if (node.pid <= 0) return Status::InvalidArgument(fmt::format("node {} is not running", i + 1));
  if (::kill(-node.pid, SIGCONT) != 0) return Status::IOError(std::strerror(errno));
  node.paused = false;
  return Status::Ok();
}

std::vector<size_t> Cluster::Reap() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<size_t> exited;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    int status = 0;
    if (nodes_[i].pid > 0 && ::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
      nodes_[i].pid = -1;
      exited.push_back(i);
    }
  }
  return exited;
}

std::string Cluster::LogTail(size_t i, size_t lines) const {
  std::ifstream f(log_path(i));
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(f, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += l + "\n";
  return out;
}

}  // namespace kvd::torture
