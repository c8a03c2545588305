// Helpers shared by the tests of kvctl's cluster commands (kvctl_cluster_test.cc for
// leader_follower and multi_leader, kvctl_dynamo_test.cc for dynamo): parsing a command
// line that must be accepted or refused, server answers, and FakeCluster, a scripted set
// of nodes keyed by client address with a fake clock (no sockets, no sleeping), to run
// RunClusterCommand against.
#pragma once

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "client/kvctl/args.h"
#include "client/kvctl/cluster.h"
#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

using Args = std::vector<std::string>;

inline Invocation MustParse(const Args& args) {
  Result<Invocation> r = ParseArgs(args, Environment{});
  INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// The message of a command line that must be refused as a usage error.
inline std::string ParseError(const Args& args) {
  Result<Invocation> r = ParseArgs(args, Environment{});
  INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

template <typename T>
T MustParseAction(const Args& args) {
  Invocation inv = MustParse(args);
  const auto* cluster = std::get_if<ClusterCommand>(&inv.command);
  REQUIRE(cluster != nullptr);
  const T* action = std::get_if<T>(&cluster->action);
  REQUIRE(action != nullptr);
  return *action;
}

// A member kvctl asked that refused the connection.
inline Probe Unreachable(std::string endpoint, uint64_t expected_id) {
  Probe probe;
  probe.endpoint = endpoint;
  probe.expected_id = expected_id;
  probe.error =
      Status::Unavailable(fmt::format("cannot connect to kvd ({}: Connection refused)", endpoint));
  probe.error_exit = ExitCode::kUnreachable;
  return probe;
}

inline wire::Response Ok(wire::ResponseBody body) {
  wire::Response r;
  r.body = std::move(body);
  return r;
}

inline wire::Response Error(Code code, std::string message, std::string leader_hint = "") {
  wire::Response r;
  r.status = code;
  r.message = std::move(message);
  r.detail.leader_hint = std::move(leader_hint);
  return r;
}

// Nodes by client address. Each answers through its handler; an address without a node
// refuses connections. Every call advances the clock by 1 ms, every sleep by its length.
class FakeCluster {
 public:
  using Handler = std::function<Result<wire::Response>(const wire::Request&)>;
  std::map<std::string, Handler> nodes;
  std::vector<std::pair<std::string, wire::Request>> requests;
  std::vector<std::chrono::milliseconds> sleeps;
  std::chrono::steady_clock::time_point now{};

  // A node whose STATUS is doc->Json() (read at call time) and whose ADMIN answers come
  // from `admin` (default: not expected).
  template <typename Document>
  void Add(const std::string& endpoint, const Document* doc, Handler admin = nullptr) {
    nodes[endpoint] = [doc, admin](const wire::Request& r) -> Result<wire::Response> {
      if (std::holds_alternative<wire::StatusRequest>(r.body)) {
        return Ok(wire::StatusResponse{doc->Json()});
      }
      REQUIRE(admin != nullptr);
      return admin(r);
    };
  }

  ClusterBackend backend() {
    ClusterBackend b;
    b.call = [this](const std::vector<NodeCall>& calls, std::chrono::milliseconds timeout) {
      CHECK(timeout > std::chrono::milliseconds(0));
      std::vector<Result<wire::Response>> results;
      for (const NodeCall& call : calls) {
        requests.emplace_back(call.endpoint, call.request);
        auto node = nodes.find(call.endpoint);
        if (node == nodes.end()) {
          results.push_back(Status::Unavailable(
              fmt::format("cannot connect to kvd ({}: Connection refused)", call.endpoint)));
        } else {
          results.push_back(node->second(call.request));
        }
      }
      now += std::chrono::milliseconds(1);
      return results;
    };
    b.steady_now = [this] { return now; };
    b.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      now += d;
    };
    return b;
  }

  // The ADMIN requests sent, with where they went.
  std::vector<std::pair<std::string, wire::AdminRequest>> AdminRequests() const {
    std::vector<std::pair<std::string, wire::AdminRequest>> admin;
    for (const auto& [endpoint, request] : requests) {
      if (const auto* a = std::get_if<wire::AdminRequest>(&request.body)) {
        admin.emplace_back(endpoint, *a);
      }
    }
    return admin;
  }
};

inline Output Run(const Args& args, FakeCluster* cluster) {
  Invocation inv = MustParse(args);
  return RunClusterCommand(inv, cluster->backend());
}

}  // namespace kvd::kvctl
