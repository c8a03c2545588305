// Running kvctl: sending requests through the client library, and the whole program as a
// function (main.cc only gathers argv, the environment and the standard streams).
//
// Execution is written against a Backend (a call function, the server's page limit and
// clocks) so that the unit tests can drive scan paging and ping timing with a fake server;
// Execute(..., Client&) binds a Backend to a real kvd::client::Client.
//
// Thread-safety: Execute and Main block the calling thread; they share no state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "client/kvctl/args.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "client/lib/client.h"
#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

struct Backend {
  // Sends one request and waits: a transport error, or the server's answer.
  std::function<Result<wire::Response>(wire::Request)> call;
  uint32_t max_scan_limit = 0;  // the server's limits.max_scan_limit; 0: unknown
  std::function<std::chrono::steady_clock::time_point()> steady_now;
  std::function<uint64_t()> unix_now_ms;
};

// Runs `request` (from BuildRequest(invocation, ...)) and renders the result.
// A scan requests pages until it has ScanCommand::limit items, or (with --all) until the
// end, each page at most max_scan_limit items; a failing page fails the whole command. A
// ping measures the round trip with steady_now. sadd/srem send one request per element,
// in order, and stop at the first that fails (see FormatSetOpResults). A get answered
// CONFLICT (multi_leader siblings) sends a GETS for the key, with the same options, and
// renders both with FormatGetSiblings.
// REQUIRES: invocation.command is not a HelpCommand or a ClusterCommand (see cluster.h).
Output ExecuteWith(const Invocation& invocation, const wire::Request& request,
                   const Backend& backend);

// ExecuteWith through `client` (which should be connected, so that the server's limits are
// known), with the system clocks.
Output Execute(const Invocation& invocation, const wire::Request& request, client::Client& client);

// The client library options for `global`: its endpoints, --timeout as the request
// timeout, and the connect timeout shared among the endpoints.
client::ClientOptions MakeClientOptions(const GlobalOptions& global);

// The whole program: parse, read input, connect, execute (cluster commands: run them with
// MakeClusterBackend), write `out`/`err`. Returns the process exit code. Never throws.
int Main(const std::vector<std::string>& args, const Environment& env, std::istream& in,
         std::ostream& out, std::ostream& err);

}  // namespace kvd::kvctl
