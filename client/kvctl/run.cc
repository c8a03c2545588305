#include "client/kvctl/run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <future>
#include <istream>
#include <iterator>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "client/kvctl/cluster.h"
#include "client/kvctl/input.h"

namespace kvd::kvctl {

namespace {

// Connect() reports its own, more precise errors within --timeout; this grace keeps the
// watchdog below from racing it.
constexpr std::chrono::milliseconds kConnectGrace{500};

uint32_t PageLimit(uint64_t wanted, uint32_t max_scan_limit) {
  if (wanted == 0) return 0;  // the server's page size
  if (max_scan_limit != 0) wanted = std::min<uint64_t>(wanted, max_scan_limit);
  return static_cast<uint32_t>(std::min<uint64_t>(wanted, UINT32_MAX));
}

// Fetches pages until the scan has what it asked for, then renders them as one answer.
Output ExecuteScan(const Invocation& invocation, const ScanCommand& scan,
                   const wire::Request& first, const Backend& backend) {
  wire::Request request = first;
  auto& page_request = std::get<wire::ScanRequest>(request.body);
  wire::ScanResponse merged;
  while (true) {
    uint64_t wanted =
        scan.limit == 0 ? 0 : scan.limit - std::min<uint64_t>(scan.limit, merged.items.size());
    page_request.limit = PageLimit(wanted, backend.max_scan_limit);
    Result<wire::Response> result = backend.call(request);
    if (!result.ok() || !result->ok() ||
        !std::holds_alternative<wire::ScanResponse>(result->body)) {
      return FormatResult(invocation, request, result, FormatContext{backend.unix_now_ms(), {}});
    }
    auto& page = std::get<wire::ScanResponse>(result->body);
    merged.items.insert(merged.items.end(), std::make_move_iterator(page.items.begin()),
                        std::make_move_iterator(page.items.end()));
    merged.continuation = std::move(page.continuation);
    bool want_more = scan.all || (scan.limit != 0 && merged.items.size() < scan.limit);
    if (merged.continuation.empty() || !want_more) break;
    if (merged.continuation == page_request.continuation) {
      // A server that does not advance would keep kvctl busy forever.
      Output output;
      output.err =
          "kvctl: malformed answer from the server: the scan continuation did not "
          "advance\n";
      output.exit_code = ExitCode::kServerFailure;
      return output;
    }
    page_request.continuation = merged.continuation;
  }
  wire::Response response;
  response.opcode = wire::Opcode::kScan;
  response.body = std::move(merged);
  return FormatResult(invocation, first, response, FormatContext{backend.unix_now_ms(), {}});
}

// Sends one SADD or SREM per element, in order, and stops at the first that fails: what was
// done is printed, the failure follows on stderr with where it stopped.
Output ExecuteSetOps(const Invocation& invocation, const SetOpCommand& op,
                     const wire::Request& first, const Backend& backend) {
  KVD_ASSERT(!op.elements.empty());
  wire::Request request = first;
  std::vector<SetOpResult> done;
  for (size_t i = 0; i < op.elements.size(); ++i) {
    const std::string& element = op.elements[i];
    if (auto* add = std::get_if<wire::SaddRequest>(&request.body)) add->element = element;
    if (auto* remove = std::get_if<wire::SremRequest>(&request.body)) remove->element = element;
    Result<wire::Response> result = backend.call(request);
    const wire::SetOpResponse* body =
        result.ok() && result->ok() ? std::get_if<wire::SetOpResponse>(&result->body) : nullptr;
    if (body != nullptr) {
      done.push_back(SetOpResult{element, body->existed});
      continue;
    }
    Output failure =
        FormatResult(invocation, request, result, FormatContext{backend.unix_now_ms(), {}});
    if (op.elements.size() == 1) return failure;
    Output output;
    if (!done.empty()) output = FormatSetOpResults(op, invocation.global.output, done);
    size_t count = op.elements.size();
    std::string where = fmt::format(
        "kvctl: stopped at element {} ({} of {}); the {} before it were applied, the {} after it "
        "were not sent\n",
        EscapeBytes(element, /*quoted=*/true), i + 1, count, i, count - i - 1);
    output.err = failure.err + where;
    output.exit_code = failure.exit_code;
    return output;
  }
  return FormatSetOpResults(op, invocation.global.output, done);
}

// A GET answered CONFLICT means the key has several siblings (multi_leader; no other
// topology answers a GET so). One value cannot be shown, so kvctl reads them all with a GETS
// under the same options and prints them with the context that resolves them.
Output ExecuteGet(const Invocation& invocation, const GetCommand& get, const wire::Request& request,
                  const Backend& backend) {
  Result<wire::Response> result = backend.call(request);
  if (!result.ok() || result->status != Code::kConflict) {
    return FormatResult(invocation, request, result, FormatContext{backend.unix_now_ms(), {}});
  }
  wire::Request gets = request;
  gets.body = wire::GetsRequest{get.key};
  return FormatGetSiblings(invocation, request, *result, backend.call(std::move(gets)));
}

// Client::Connect() can wait forever if a server accepts the connection but never answers
// the HELLO (its connect timeout stops at the TCP connect). Waiting on another thread
// bounds it. That thread owns a reference to the client, so if it is still stuck when kvctl
// gives up, the client stays alive until the process exits; otherwise it drops its
// reference before reporting, leaving the caller's as the last.
Status ConnectWithin(std::shared_ptr<client::Client> client, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> connected = promise->get_future();
  std::thread([client = std::move(client), promise]() mutable {
    Status status = client->Connect();
    client.reset();
    promise->set_value(std::move(status));
  }).detach();
  if (connected.wait_for(timeout) != std::future_status::ready) {
    return Status::Timeout(fmt::format(
        "connected, but the server did not complete the handshake within {} ms", timeout.count()));
  }
  return connected.get();
}

// `out` takes the progress lines of a cluster command as they come (kvctl node join
// --wait); everything else is in the returned Output.
Output Run(const std::vector<std::string>& args, const Environment& env, std::istream& in,
           std::ostream& out) {
  Result<Invocation> invocation = ParseArgs(args, env);
  if (!invocation.ok()) return UsageError(invocation.status().message());
  if (const auto* help = std::get_if<HelpCommand>(&invocation->command)) {
    Output output;
    output.out = help->text;
    return output;
  }
  if (std::holds_alternative<ClusterCommand>(invocation->command)) {
    // Cluster commands talk to several nodes, each at its own address (cluster.h).
    auto progress = [&out](const std::string& line) {
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
      out.flush();
    };
    return RunClusterCommand(*invocation, MakeClusterBackend(invocation->global, progress));
  }
  Result<wire::Request> request = BuildRequest(*invocation, in);
  if (!request.ok()) return UsageError(request.status().message());
  auto client = std::make_shared<client::Client>(MakeClientOptions(invocation->global));
  // Connecting first fails fast when no endpoint accepts, instead of retrying with backoff
  // until --timeout expires.
  Status connected = ConnectWithin(client, invocation->global.timeout + kConnectGrace);
  if (!connected.ok()) return TransportError(connected);
  return Execute(*invocation, *request, *client);
}

}  // namespace

Output ExecuteWith(const Invocation& invocation, const wire::Request& request,
                   const Backend& backend) {
  KVD_ASSERT(!std::holds_alternative<HelpCommand>(invocation.command));
  KVD_ASSERT(!std::holds_alternative<ClusterCommand>(invocation.command));
  if (const auto* scan = std::get_if<ScanCommand>(&invocation.command)) {
    return ExecuteScan(invocation, *scan, request, backend);
  }
  if (const auto* op = std::get_if<SetOpCommand>(&invocation.command)) {
    return ExecuteSetOps(invocation, *op, request, backend);
  }
  if (const auto* get = std::get_if<GetCommand>(&invocation.command)) {
    return ExecuteGet(invocation, *get, request, backend);
  }
  auto start = backend.steady_now();
  Result<wire::Response> result = backend.call(request);
  FormatContext context;
  context.rtt = backend.steady_now() - start;
  context.now_ms = backend.unix_now_ms();
  return FormatResult(invocation, request, result, context);
}

Output Execute(const Invocation& invocation, const wire::Request& request, client::Client& client) {
  Backend backend;
  backend.call = [&client](wire::Request r) { return client.Call(std::move(r)); };
  backend.max_scan_limit = client.server_info().limits.max_scan_limit;
  backend.steady_now = [] { return std::chrono::steady_clock::now(); };
  backend.unix_now_ms = [] {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  };
  return ExecuteWith(invocation, request, backend);
}

client::ClientOptions MakeClientOptions(const GlobalOptions& global) {
  KVD_ASSERT(!global.endpoints.empty());
  client::ClientOptions options;
  options.endpoints = global.endpoints;
  options.request_timeout = global.timeout;
  // One round over all endpoints fits in --timeout.
  options.connect_timeout = std::max(
      std::chrono::milliseconds(1),
      global.timeout / static_cast<std::chrono::milliseconds::rep>(global.endpoints.size()));
  options.client_name = "kvctl";
  return options;
}

int Main(const std::vector<std::string>& args, const Environment& env, std::istream& in,
         std::ostream& out, std::ostream& err) {
  Output output;
  // Nothing below should throw; this keeps a surprise (e.g. bad_alloc) to one line.
  try {
    output = Run(args, env, in, out);
  } catch (const std::exception& e) {
    output = Output{};
    output.err = fmt::format("kvctl: internal error: {}\n", e.what());
    output.exit_code = ExitCode::kServerFailure;
  }
  out.write(output.out.data(), static_cast<std::streamsize>(output.out.size()));
  out.flush();
  err.write(output.err.data(), static_cast<std::streamsize>(output.err.size()));
  err.flush();
  return static_cast<int>(output.exit_code);
}

}  // namespace kvd::kvctl
