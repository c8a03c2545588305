// KvdDriver: one libkvclient Client per connection, all on a shared set of I/O threads.
// Connection i uses endpoint i mod the endpoints; with smart routing it is given every
// endpoint, starting at that one, and opens its own connection to each ring node it sends
// to (so a "connection" of the report is one client, with up to one socket per node).
#include "client/lib/client.h"
#include "client/bench/driver.h"

namespace kvd::bench {

namespace {

std::string_view KindOf(Code code, bool transport) {
  if (transport && code == Code::kUnavailable) return "connection";
  return CodeName(code);
}

class KvdConnection final : public BenchConnection {
 public:
  KvdConnection(client::ClientOptions options, const DriverOptions& d)
      : client_(std::move(options)) {
    request_options_.consistency = d.consistency;
    request_options_.durability = d.durability;
  }
  Status Connect() { return client_.Connect(); }

  void Get(std::string key, OpDone done) override {
    wire::Request r;
    r.options = request_options_;
    r.body = wire::GetRequest{std::move(key)};
    client_.Send(std::move(r), [done = std::move(done)](Result<wire::Response> resp) {
      if (!resp.ok()) return done({false, false, KindOf(resp.status().code(), true)});
      if (resp->status == Code::kNotFound) return done({true, false, {}});
      if (!resp->ok()) return done({false, false, KindOf(resp->status, false)});
      done({true, true, {}});
    });
  }

  void Set(std::string key, std::string_view value, OpDone done) override {
    wire::Request r;
    r.options = request_options_;
    r.body = wire::PutRequest{std::move(key), std::string(value), 0};
    client_.Send(std::move(r), [done = std::move(done)](Result<wire::Response> resp) {
      if (!resp.ok()) return done({false, false, KindOf(resp.status().code(), true)});
      if (!resp->ok()) return done({false, false, KindOf(resp->status, false)});
      done({true, true, {}});
    });
  }

 private:
  client::Client client_;
  wire::RequestOptions request_options_;
};

class KvdDriver final : public Driver {
 public:
  explicit KvdDriver(const DriverOptions& options)
      : options_(options), threads_(client::MakeIoThreads(options.io_threads)) {}
  ~KvdDriver() override = default;

  Result<std::unique_ptr<BenchConnection>> Open(size_t index) override {
    client::ClientOptions o;
    const size_t first = index % options_.endpoints.size();
    o.endpoints = {options_.endpoints[first]};
    if (options_.smart_routing) {
      o.smart_routing = true;
      for (size_t i = 1; i < options_.endpoints.size(); ++i) {
        o.endpoints.push_back(options_.endpoints[(first + i) % options_.endpoints.size()]);
      }
    }
    o.request_timeout = options_.timeout;
    o.client_name = "kvbench";
    o.io_threads = threads_;
    auto conn = std::make_unique<KvdConnection>(std::move(o), options_);
    KVD_TRY(conn->Connect());
    return std::unique_ptr<BenchConnection>(std::move(conn));
  }
  std::string name() const override { return "kvd"; }

 private:
  DriverOptions options_;
  // Connections must be destroyed before the threads (the runner destroys them first).
  std::shared_ptr<client::IoThreads> threads_;
};

}  // namespace

std::unique_ptr<Driver> MakeKvdDriver(const DriverOptions& options) {
  return std::make_unique<KvdDriver>(options);
}

}  // namespace kvd::bench
