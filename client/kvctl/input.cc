#include "client/kvctl/input.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "client/kvctl/batch_script.h"

namespace kvd::kvctl {

namespace {

constexpr size_t kReadChunkBytes = 64u << 10;

Status TooLarge(std::string_view what, size_t max_bytes) {
  return Status::InvalidArgument(
      fmt::format("{} is larger than {} bytes, more than a request can carry", what, max_bytes));
}

Result<std::string> ReadValue(const ValueSource& source, std::istream& in) {
  switch (source.kind) {
    case ValueSource::Kind::kArgument:
      return source.text;
    case ValueSource::Kind::kFile:
      return ReadFileBytes(source.text, "--file");
    case ValueSource::Kind::kStdin:
      return ReadStreamBytes(in, "standard input");
  }
  KVD_PANIC("unknown ValueSource kind");
}

Result<wire::BatchRequest> ReadBatch(const BatchCommand& batch, std::istream& in) {
  if (batch.file.empty()) return wire::BatchRequest{batch.ops};
  std::string source = batch.file == "-" ? "standard input" : batch.file;
  Result<std::string> text =
      batch.file == "-" ? ReadStreamBytes(in, source) : ReadFileBytes(batch.file, "--file");
  if (!text.ok()) return text.status();
  KVD_ASSIGN_OR_RETURN(std::vector<wire::BatchOp> ops, ParseBatchScript(*text, source));
  return wire::BatchRequest{std::move(ops)};
}

wire::ScanRequest ScanRequestFor(const ScanCommand& scan) {
  wire::ScanRequest request;
  request.prefix = scan.prefix;
  request.start = scan.from;
  request.end = scan.to;
  request.limit = scan.limit;
  request.reverse = scan.reverse;
  request.keys_only = scan.keys_only;
  request.continuation = scan.continuation;
  return request;
}

// One overload per command: the request body.
Result<wire::RequestBody> BodyFor(const HelpCommand&, std::istream&) {
  KVD_PANIC("help is not sent to the server");
}
Result<wire::RequestBody> BodyFor(const GetCommand& get, std::istream&) {
  return wire::RequestBody{wire::GetRequest{get.key}};
}
Result<wire::RequestBody> BodyFor(const PutCommand& put, std::istream& in) {
  KVD_ASSIGN_OR_RETURN(std::string value, ReadValue(put.value, in));
  return wire::RequestBody{wire::PutRequest{put.key, std::move(value), put.ttl_ms}};
}
Result<wire::RequestBody> BodyFor(const DeleteCommand& del, std::istream&) {
  return wire::RequestBody{wire::DeleteRequest{del.key}};
}
Result<wire::RequestBody> BodyFor(const CasCommand& cas, std::istream& in) {
  wire::CasRequest request{cas.kind, cas.key, cas.expected_version, "", cas.ttl_ms};
  if (cas.kind != wire::CasKind::kDeleteIfVersion) {
    KVD_ASSIGN_OR_RETURN(request.value, ReadValue(cas.value, in));
  }
  return wire::RequestBody{std::move(request)};
}
Result<wire::RequestBody> BodyFor(const BatchCommand& batch, std::istream& in) {
  KVD_ASSIGN_OR_RETURN(wire::BatchRequest request, ReadBatch(batch, in));
  return wire::RequestBody{std::move(request)};
}
Result<wire::RequestBody> BodyFor(const ScanCommand& scan, std::istream&) {
  return wire::RequestBody{ScanRequestFor(scan)};
}
Result<wire::RequestBody> BodyFor(const PingCommand& ping, std::istream&) {
  return wire::RequestBody{wire::PingRequest{ping.payload}};
}
Result<wire::RequestBody> BodyFor(const StatusCommand&, std::istream&) {
  return wire::RequestBody{wire::StatusRequest{}};
}
Result<wire::RequestBody> BodyFor(const GetsCommand& gets, std::istream&) {
  return wire::RequestBody{wire::GetsRequest{gets.key}};
}
Result<wire::RequestBody> BodyFor(const IncrCommand& incr, std::istream&) {
  return wire::RequestBody{wire::IncrRequest{incr.key, incr.amount}};
}
// The first element's request; ExecuteWith sends the others.
Result<wire::RequestBody> BodyFor(const SetOpCommand& op, std::istream&) {
  KVD_ASSERT(!op.elements.empty());
  if (op.kind == SetOpCommand::Kind::kAdd) {
    return wire::RequestBody{wire::SaddRequest{op.key, op.elements.front()}};
  }
  return wire::RequestBody{wire::SremRequest{op.key, op.elements.front()}};
}
Result<wire::RequestBody> BodyFor(const SmembersCommand& smembers, std::istream&) {
  return wire::RequestBody{wire::SmembersRequest{smembers.key}};
}
Result<wire::RequestBody> BodyFor(const ClusterCommand&, std::istream&) {
  KVD_PANIC("cluster commands build their requests in RunClusterCommand");
}

}  // namespace

Result<std::string> ReadFileBytes(const std::string& path, std::string_view what,
                                  size_t max_bytes) {
  auto cannot_read = [&](int error) {
    return Status::InvalidArgument(
        fmt::format("cannot read {} {}: {}", what, path, std::strerror(error)));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return cannot_read(errno);
  std::string bytes;
  std::string chunk(kReadChunkBytes, '\0');
  while (true) {
    size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
    bytes.append(chunk, 0, n);
    if (bytes.size() > max_bytes) return TooLarge(fmt::format("{} {}", what, path), max_bytes);
    if (n < chunk.size()) break;
  }
  // A directory opens, then fails to read with EISDIR.
  if (std::ferror(file.get()) != 0) return cannot_read(errno);
  return bytes;
}

Result<std::string> ReadStreamBytes(std::istream& in, std::string_view what, size_t max_bytes) {
  std::string bytes;
  std::string chunk(kReadChunkBytes, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes.append(chunk, 0, static_cast<size_t>(in.gcount()));
    if (bytes.size() > max_bytes) return TooLarge(what, max_bytes);
  }
  if (in.bad()) return Status::InvalidArgument(fmt::format("cannot read {}", what));
  return bytes;
}

Result<wire::Request> BuildRequest(const Invocation& invocation, std::istream& in) {
  KVD_ASSERT(!std::holds_alternative<HelpCommand>(invocation.command));
  wire::Request request;
  request.options.consistency = invocation.global.consistency;
  request.options.durability = invocation.global.durability;
  request.options.read_quorum = invocation.global.read_quorum;
  request.options.write_quorum = invocation.global.write_quorum;
  // Tell the server when kvctl stops waiting, so that it does not work for nobody.
  request.options.timeout_ms = static_cast<uint32_t>(invocation.global.timeout.count());
  KVD_ASSIGN_OR_RETURN(
      request.body,
      std::visit([&](const auto& command) { return BodyFor(command, in); }, invocation.command));
  // The server accepts a causal context only on PUT and DELETE.
  if (const auto* put = std::get_if<PutCommand>(&invocation.command)) {
    request.options.context = put->context;
  } else if (const auto* del = std::get_if<DeleteCommand>(&invocation.command)) {
    request.options.context = del->context;
  }
  return request;
}

}  // namespace kvd::kvctl
