#include "server/app/app.h"

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <random>
#include <set>

#include "server/admin/metrics.h"
#include "server/app/data_dir_lock.h"
#include "server/net/admin_http.h"
#include "server/net/peer_transport.h"
#include "server/net/server.h"
#include "server/node/clock.h"
#include "server/node/node_runtime.h"
#include "server/node/storage_worker.h"
#include "server/storage/leveldb_engine.h"
#include "server/storage/memory_engine.h"
#include "server/topology/node.h"

namespace kvd::app {

namespace asio = boost::asio;

using node::SteadyMillis;
using node::WallMillis;

namespace {

constexpr auto kTickInterval = std::chrono::milliseconds(10);
constexpr auto kDrainPollInterval = std::chrono::milliseconds(5);
constexpr auto kAdminStatusTimeout = std::chrono::seconds(1);

Result<std::unique_ptr<storage::Engine>> OpenEngine(const config::Config& config,
                                                    DataDirLock* lock) {
  if (config.storage.engine == config::Engine::kMemory) {
    return std::unique_ptr<storage::Engine>(std::make_unique<storage::MemoryEngine>());
  }
  KVD_TRY(lock->Acquire(config.node.data_dir));
  storage::LevelDbOptions options;
  options.block_cache_bytes = size_t{config.storage.block_cache_mb} << 20;
  options.write_buffer_bytes = size_t{config.storage.write_buffer_mb} << 20;
  KVD_ASSIGN_OR_RETURN(auto engine,
                       storage::LevelDbEngine::Open(config.node.data_dir + "/db", options));
  return std::unique_ptr<storage::Engine>(std::move(engine));
}

// Everything that lives for one run of the node, in construction order.
class Node {
 public:
  Node(const config::Config& config, Logger* logger) : config_(config), logger_(logger) {}

  int Run();

 private:
  Status Start();
  void Tick();
  void WaitForSignal();
  void BeginShutdown(int signal);
  void PollDrain();
  std::string StatusJson();
  std::string StatusJsonFromAdminThread();
  void UpdatePeers(const std::vector<topology::MemberEndpoint>& members);

  const config::Config& config_;
  Logger* logger_;
  asio::io_context io_{1};
  admin::Metrics metrics_;
  DataDirLock lock_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<node::StorageWorker> worker_;
  std::unique_ptr<node::NodeRuntime> runtime_;
  std::unique_ptr<net::PeerTransport> peers_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::AdminHttp> admin_;
  asio::steady_timer tick_timer_{io_};
  asio::steady_timer drain_timer_{io_};
  asio::signal_set signals_{io_, SIGINT, SIGTERM};
  uint64_t start_steady_ms_ = SteadyMillis();
  uint64_t drain_deadline_ms_ = 0;
  bool stopping_ = false;
  int exit_code_ = kExitOk;
  std::set<uint64_t> known_peers_;
};

Status Node::Start() {
  KVD_ASSIGN_OR_RETURN(engine_, OpenEngine(config_, &lock_));
  worker_ = std::make_unique<node::StorageWorker>(engine_.get(), &metrics_);
  node::NodeRuntime::Hooks hooks;
  hooks.post = [this](std::function<void()> fn) { asio::post(io_, std::move(fn)); };
  hooks.deliver = [this](const topology::ClientRef& ref, wire::Response r) {
    server_->Deliver(ref, std::move(r));
  };
  hooks.send = [this](uint64_t to, std::string bytes) {
    if (peers_) peers_->Send(to, std::move(bytes));
  };
  hooks.fatal = [this](const Status& s) {
    KVD_LOG(*logger_, kError, "app", "-", "fatal: {}; shutting down", s.ToString());
    exit_code_ = kExitRuntimeError;
    asio::post(io_, [this] { BeginShutdown(SIGTERM); });
  };
  hooks.members = [this](const std::vector<topology::MemberEndpoint>& members) {
    UpdatePeers(members);
  };
  runtime_ = std::make_unique<node::NodeRuntime>(config_, engine_.get(), worker_.get(), logger_,
                                                 &metrics_, std::move(hooks));
  // The core's randomness (election timeouts) comes from the OS; logged so that a run
  // can be related to its seed.
  std::random_device entropy;
  uint64_t seed = (uint64_t{entropy()} << 32) | entropy();
  KVD_LOG(*logger_, kDebug, "app", "-", "core seed {:#x}", seed);
  KVD_TRY(runtime_->Open(seed).WithContext("open storage"));
  if (config::IsClustered(config_.node.mode)) {
    const config::MemberConfig* self = config::SelfMember(config_);
    net::PeerTransportOptions options;
    options.self_id = config_.node.id;
    options.cluster_name = config_.cluster.name;
    if (self != nullptr) {
      options.listen = self->peer;
    } else {
      return Status::InvalidArgument(
          fmt::format("node {} has no entry in cluster.members: its peer address is unknown",
                      config_.node.id));
    }
    for (const config::MemberConfig& m : config_.cluster.members) {
      if (m.id != config_.node.id) {
        options.peers[m.id] = m.peer;
        known_peers_.insert(m.id);
      }
    }
    peers_ = std::make_unique<net::PeerTransport>(
        &io_, std::move(options), logger_,
        [this](uint64_t from, std::string_view bytes) { runtime_->OnPeerMessage(from, bytes); });
    KVD_TRY(peers_->Listen());
  }
  server_ = std::make_unique<net::Server>(&io_, &config_, runtime_.get(), logger_, &metrics_,
                                          [this] { return StatusJson(); });
  KVD_TRY(server_->Listen());
  if (config_.server.admin_enabled) {
    net::AdminHttp::Handlers handlers;
    handlers.metrics = [this] {
      return metrics_.RenderPrometheus(engine_->Stats().gauges,
                                       static_cast<double>(SteadyMillis() - start_steady_ms_) / 1e3);
    };
    handlers.status = [this] { return StatusJsonFromAdminThread(); };
    admin_ = std::make_unique<net::AdminHttp>(config_.server.admin_listen, std::move(handlers),
                                              logger_);
    KVD_TRY(admin_->Listen());
  }
  return Status::Ok();
}

void Node::UpdatePeers(const std::vector<topology::MemberEndpoint>& members) {
  if (!peers_) return;
  std::set<uint64_t> now;
  for (const topology::MemberEndpoint& m : members) {
    Result<config::Address> address = config::ParseAddress(m.peer);
    if (!address.ok()) {
      KVD_LOG(*logger_, kWarn, "raft", "-", "member {} has an unusable peer address {}: {}",
              m.id, m.peer, address.status().message());
      continue;
    }
    now.insert(m.id);
    peers_->AddPeer(m.id, std::move(address).value());
  }
  for (uint64_t id : known_peers_) {
    if (now.count(id) == 0) peers_->RemovePeer(id);
  }
  known_peers_ = std::move(now);
}

std::string Node::StatusJson() {
  return runtime_->StatusJson((SteadyMillis() - start_steady_ms_) / 1000,
                              server_->connection_count());
}

std::string Node::StatusJsonFromAdminThread() {
  // The runtime belongs to the loop thread: ask it there, and give up after a while
  // rather than hang the scraper.
  auto promise = std::make_shared<std::promise<std::string>>();
  std::future<std::string> future = promise->get_future();
  asio::post(io_, [this, promise] { promise->set_value(StatusJson()); });
  if (future.wait_for(kAdminStatusTimeout) != std::future_status::ready) return "";
  return future.get();
}

void Node::Tick() {
  runtime_->Tick(WallMillis(), SteadyMillis());
  tick_timer_.expires_after(kTickInterval);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

void Node::WaitForSignal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    BeginShutdown(signal);
    WaitForSignal();  // keep catching repeats while draining
  });
}

void Node::BeginShutdown(int signal) {
  if (stopping_) {
    KVD_LOG(*logger_, kInfo, "app", "-", "already draining; ignoring repeated signal");
    return;
  }
  stopping_ = true;
  KVD_LOG(*logger_, kInfo, "app", "-", "received {}; draining (at most {} ms)",
          signal == SIGINT ? "SIGINT" : "SIGTERM", config_.server.shutdown_grace_ms);
  drain_deadline_ms_ = SteadyMillis() + config_.server.shutdown_grace_ms;
  server_->BeginShutdown();
  PollDrain();
}

void Node::PollDrain() {
  bool drained = server_->connection_count() == 0 && runtime_->Idle();
  if (drained || SteadyMillis() >= drain_deadline_ms_) {
    if (!drained) {
      KVD_LOG(*logger_, kWarn, "app", "-",
              "drain timed out with {} connections open; closing them",
              server_->connection_count());
    }
    server_->CloseAll();
    if (peers_) peers_->Stop();
    tick_timer_.cancel();
    io_.stop();
    return;
  }
  drain_timer_.expires_after(kDrainPollInterval);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) PollDrain();
  });
}

int Node::Run() {
  KVD_LOG(*logger_, kInfo, "app", "-",
          "kvd {} starting: node {} mode {} engine {} durability {} data_dir {}", KVD_VERSION,
          config_.node.id, config::ModeName(config_.node.mode),
          config::EngineName(config_.storage.engine),
          config::DurabilityName(config_.storage.durability), config_.node.data_dir);
  if (Status s = Start(); !s.ok()) {
    KVD_LOG(*logger_, kError, "app", "-", "cannot start: {}", s.message());
    if (runtime_) (void)runtime_->Close();
    return kExitRuntimeError;
  }
  server_->StartAccepting();
  if (peers_) peers_->Start();
  if (admin_) admin_->Start();
  KVD_LOG(*logger_, kInfo, "app", "-", "listening on {} (admin {}); revision {}",
          server_->local_address().ToString(),
          admin_ ? admin_->local_address().ToString() : std::string("disabled"),
          runtime_->kv().revision());
  WaitForSignal();
  Tick();
  io_.run();
  // Shutdown is under way: a repeated SIGTERM (as service managers send) must not kill the
  // process while it writes its last groups and syncs. Unregistering restores SIG_DFL,
  // so unregister first, then ignore.
  boost::system::error_code ignored;
  signals_.clear(ignored);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);

  if (admin_) admin_->Stop();
  server_.reset();
  peers_.reset();
  Status closed = runtime_->Close();
  if (!closed.ok()) {
    KVD_LOG(*logger_, kError, "app", "-", "shutdown: {}", closed.ToString());
    return kExitRuntimeError;
  }
  KVD_LOG(*logger_, kInfo, "app", "-", "stopped {} at revision {}",
          exit_code_ == kExitOk ? "cleanly" : "after a fatal error", runtime_->kv().revision());
  return exit_code_;
}

}  // namespace

int Run(const config::Config& config, Logger* logger) {
  Node node(config, logger);
  return node.Run();
}

}  // namespace kvd::app
