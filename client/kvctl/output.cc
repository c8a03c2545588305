#include "client/kvctl/output.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "client/kvctl/batch_script.h"

namespace kvd::kvctl {

namespace {

// A scan table shows at most this much of each value; get, raw and json show all of it.
constexpr size_t kMaxValueColumns = 120;

// ordered_json keeps fields in the order written (and the server's order for status).
using Json = nlohmann::ordered_json;

// ---- bytes ----

// Decodes the UTF-8 sequence at s[i]: its length, or 0 if it is malformed (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF). Sets *code_point.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* code_point) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t lead = byte(i);
  size_t length = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    cp = lead & 0x1Fu;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    cp = lead & 0x0Fu;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    cp = lead & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code_point = cp;
  return length;
}

// Columns a table cell takes: one per code point (EscapeBytes output is ASCII or UTF-8).
size_t DisplayWidth(std::string_view text) {
  return static_cast<size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; }));
}

// Appends the table form of the character at bytes[i] to *out; returns the bytes consumed.
size_t EscapeOne(std::string_view bytes, size_t i, bool quoted, std::string* out) {
  auto b = static_cast<uint8_t>(bytes[i]);
  uint32_t code_point = 0;
  if (b == '\\') {
    *out += "\\\\";
    return 1;
  }
  if (quoted && b == '"') {
    *out += "\\\"";
    return 1;
  }
  if (b >= 0x20 && b < 0x7f) {
    out->push_back(bytes[i]);
    return 1;
  }
  if (b >= 0x80) {
    // Printable beyond ASCII passes; C1 controls (U+0080..U+009F) do not.
    size_t length = DecodeUtf8(bytes, i, &code_point);
    if (length != 0 && code_point >= 0xA0) {
      out->append(bytes.substr(i, length));
      return length;
    }
  }
  *out += fmt::format("\\x{:02x}", b);
  return 1;
}

// Server messages may quote keys: keep them on one line.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto b = static_cast<uint8_t>(c);
    if (b < 0x20 || b == 0x7f) {
      out += fmt::format("\\x{:02x}", b);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string CodeWords(Code code) {
  std::string words(CodeName(code));
  std::replace(words.begin(), words.end(), '_', ' ');
  return words;
}

Output Success(std::string out) {
  Output output;
  output.out = std::move(out);
  return output;
}

Output MalformedAnswer(std::string_view what) {
  return Failure(ExitCode::kServerFailure,
                 fmt::format("malformed answer from the server: {}", what));
}

template <typename T>
const T* BodyOf(const wire::Response& response) {
  return std::get_if<T>(&response.body);
}

// ---- JSON ----

void SetBytes(Json* j, const std::string& field, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    (*j)[field] = std::string(bytes);
  } else {
    (*j)[field + "_base64"] = Base64Encode(bytes);
  }
}

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// ---- server errors ----

// A conflict names the current version (and for a batch, the op); everything else is
// ServerFailure.
Output ServerError(const Invocation& invocation, const wire::Response& response) {
  if (response.status != Code::kConflict) return ServerFailure(response);
  std::string message = CodeWords(response.status);
  if (!response.message.empty()) message += ": " + OneLine(response.message);
  if (const auto* get = std::get_if<GetCommand>(&invocation.command)) {
    // multi_leader: a GET of a key with several siblings has no single value (and no
    // current version); GETS reads them all. The hint is a command to copy.
    Output output = Failure(ExitCodeForServerCode(response.status), message);
    output.err += fmt::format("kvctl: use: kvctl gets {}\n", ShellQuote(get->key));
    return output;
  }
  if (std::holds_alternative<BatchCommand>(invocation.command)) {
    std::string op = fmt::format("op {}", response.detail.op_index);
    if (response.message.rfind(op, 0) != 0) {
      message =
          fmt::format("{}: {}: {}", CodeWords(response.status), op, OneLine(response.message));
    }
    message += fmt::format(" (current version {}); nothing was applied",
                           response.detail.current_version);
  } else {
    message += fmt::format(" (current version {})", response.detail.current_version);
  }
  return Failure(ExitCodeForServerCode(response.status), message);
}

// ---- each command's success ----

Output FormatOk(const HelpCommand& help, OutputFormat, const wire::Request&, const wire::Response&,
                const FormatContext&) {
  return Success(help.text);
}

Output FormatOk(const GetCommand& get, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::GetResponse>(response);
  if (body == nullptr) return MalformedAnswer("GET answer without a value");
  switch (format) {
    case OutputFormat::kTable:
      return Success(EscapeBytes(body->value) + "\n");
    case OutputFormat::kRaw:
      return Success(body->value);
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  SetBytes(&j, "key", get.key);
  SetBytes(&j, "value", body->value);
  j["version"] = body->version;
  j["expires_at_ms"] = body->expires_at_ms;
  return Success(JsonLine(j));
}

Output FormatVersion(OutputFormat format, uint64_t version) {
  switch (format) {
    case OutputFormat::kTable:
      return Success(fmt::format("OK version={}\n", version));
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", version));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["version"] = version;
  return Success(JsonLine(j));
}

Output FormatDeleted(OutputFormat format, bool deleted) {
  switch (format) {
    case OutputFormat::kTable:
      return Success(deleted ? "deleted\n" : "not found (nothing deleted)\n");
    case OutputFormat::kRaw:
      return Success(deleted ? "1\n" : "0\n");
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["deleted"] = deleted;
  return Success(JsonLine(j));
}

Output FormatOk(const PutCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::PutResponse>(response);
  if (body == nullptr) return MalformedAnswer("PUT answer without a version");
  return FormatVersion(format, body->version);
}

Output FormatOk(const DeleteCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::DeleteResponse>(response);
  if (body == nullptr) return MalformedAnswer("DELETE answer without a result");
  return FormatDeleted(format, body->existed);
}

Output FormatOk(const CasCommand& cas, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::CasResponse>(response);
  if (body == nullptr) return MalformedAnswer("CAS answer without a version");
  if (cas.kind == wire::CasKind::kDeleteIfVersion) return FormatDeleted(format, true);
  return FormatVersion(format, body->version);
}

// "-> ..." for one batch result, in table form.
std::string BatchOutcome(const wire::BatchResult& result) {
  switch (result.type) {
    case wire::BatchOpType::kPut:
      return fmt::format("version {}", result.version);
    case wire::BatchOpType::kGet:
      if (!result.found) return "not found";
      return fmt::format("{} (version {})", EscapeBytes(result.value, /*quoted=*/true),
                         result.version);
    case wire::BatchOpType::kDelete:
      return result.found ? "deleted" : "not found";
    case wire::BatchOpType::kCheck:
      return result.version == 0 ? "ok (absent)" : fmt::format("ok (version {})", result.version);
  }
  return "?";
}

Json BatchResultJson(const wire::BatchOp& op, const wire::BatchResult& result) {
  Json j = Json::object();
  j["op"] = BatchOpName(op.type);
  SetBytes(&j, "key", op.key);
  switch (result.type) {
    case wire::BatchOpType::kPut:
      j["version"] = result.version;
      break;
    case wire::BatchOpType::kGet:
      j["found"] = result.found;
      if (result.found) {
        SetBytes(&j, "value", result.value);
        j["version"] = result.version;
        j["expires_at_ms"] = result.expires_at_ms;
      }
      break;
    case wire::BatchOpType::kDelete:
      j["deleted"] = result.found;
      break;
    case wire::BatchOpType::kCheck:
      j["version"] = result.version;
      break;
  }
  return j;
}

Output FormatOk(const BatchCommand&, OutputFormat format, const wire::Request& request,
                const wire::Response& response, const FormatContext&) {
  const auto* ops = std::get_if<wire::BatchRequest>(&request.body);
  KVD_ASSERT(ops != nullptr);
  const auto* body = BodyOf<wire::BatchResponse>(response);
  if (body == nullptr) return MalformedAnswer("BATCH answer without results");
  if (body->results.size() != ops->ops.size()) {
    return MalformedAnswer(
        fmt::format("{} results for {} batch ops", body->results.size(), ops->ops.size()));
  }
  for (size_t i = 0; i < body->results.size(); ++i) {
    if (body->results[i].type != ops->ops[i].type) {
      return MalformedAnswer(fmt::format("batch result {} is for a different op", i));
    }
  }
  if (format == OutputFormat::kJson) {
    Json results = Json::array();
    for (size_t i = 0; i < body->results.size(); ++i) {
      results.push_back(BatchResultJson(ops->ops[i], body->results[i]));
    }
    Json j = Json::object();
    j["results"] = std::move(results);
    return Success(JsonLine(j));
  }
  std::string out;
  for (size_t i = 0; i < body->results.size(); ++i) {
    const wire::BatchOp& op = ops->ops[i];
    out += fmt::format("{} {} {} -> {}\n", i, BatchOpName(op.type), QuoteScriptWord(op.key),
                       BatchOutcome(body->results[i]));
  }
  return Success(std::move(out));
}

std::string ScanTable(const ScanCommand& scan, const wire::ScanResponse& body, uint64_t now_ms) {
  if (body.items.empty()) return "(no keys)\n";
  bool ttl_column = std::any_of(body.items.begin(), body.items.end(),
                                [](const wire::ScanItem& item) { return item.expires_at_ms != 0; });
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"KEY", "VERSION"});
  if (ttl_column) rows[0].emplace_back("TTL");
  if (!scan.keys_only) rows[0].emplace_back("VALUE");
  for (const wire::ScanItem& item : body.items) {
    std::vector<std::string> row{EscapeBytes(item.key), std::to_string(item.version)};
    if (ttl_column) {
      row.push_back(item.expires_at_ms == 0
                        ? "-"
                        : FormatTtl(item.expires_at_ms > now_ms ? item.expires_at_ms - now_ms : 0));
    }
    if (!scan.keys_only) row.push_back(EscapeBytesTruncated(item.value, kMaxValueColumns));
    rows.push_back(std::move(row));
  }
  return AlignColumns(rows);
}

Output FormatOk(const ScanCommand& scan, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext& context) {
  const auto* body = BodyOf<wire::ScanResponse>(response);
  if (body == nullptr) return MalformedAnswer("SCAN answer without items");
  std::string more;
  if (!body->continuation.empty()) {
    more = fmt::format("-- more: {}\n", NextScanCommand(scan, body->continuation));
  }
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = ScanTable(scan, *body, context.now_ms) + more;
      return output;
    case OutputFormat::kRaw:
      for (const wire::ScanItem& item : body->items) {
        output.out += item.key;
        if (!scan.keys_only) output.out += "\t" + item.value;
        output.out += '\n';
      }
      output.err = more;  // keeps stdout to the items
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json items = Json::array();
  for (const wire::ScanItem& item : body->items) {
    Json j = Json::object();
    SetBytes(&j, "key", item.key);
    j["version"] = item.version;
    j["expires_at_ms"] = item.expires_at_ms;
    if (!scan.keys_only) SetBytes(&j, "value", item.value);
    items.push_back(std::move(j));
  }
  Json j = Json::object();
  j["items"] = std::move(items);
  j["continuation"] = HexEncode(body->continuation);
  output.out = JsonLine(j);
  return output;
}

Output FormatOk(const PingCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext& context) {
  const auto* body = BodyOf<wire::PingResponse>(response);
  if (body == nullptr) return MalformedAnswer("PING answer without a payload");
  double rtt_ms = static_cast<double>(context.rtt.count()) / 1e6;
  switch (format) {
    case OutputFormat::kTable:
      return Success(fmt::format("PONG {:.2f} ms{}\n", rtt_ms,
                                 body->payload.empty() ? "" : " " + EscapeBytes(body->payload)));
    case OutputFormat::kRaw:
      return Success(fmt::format("{:.3f}\n", rtt_ms));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["rtt_ms"] = std::round(rtt_ms * 1000) / 1000;
  if (!body->payload.empty()) SetBytes(&j, "payload", body->payload);
  return Success(JsonLine(j));
}

// Appends "name: value" lines for `j`, naming nested fields parent.child.
void FlattenStatus(const Json& j, const std::string& name, std::string* out) {
  if (j.is_object() && !j.empty()) {
    for (const auto& item : j.items()) {
      FlattenStatus(item.value(), name.empty() ? item.key() : name + "." + item.key(), out);
    }
    return;
  }
  std::string value =
      j.is_string() ? j.get<std::string>() : j.dump(-1, ' ', false, Json::error_handler_t::replace);
  *out += name.empty() ? OneLine(value) + "\n" : fmt::format("{}: {}\n", name, OneLine(value));
}

Output FormatOk(const StatusCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::StatusResponse>(response);
  if (body == nullptr) return MalformedAnswer("STATUS answer without a document");
  if (format == OutputFormat::kRaw) return Success(body->json);
  Json document = Json::parse(body->json, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return MalformedAnswer("the status document is not valid JSON");
  if (format == OutputFormat::kJson) {
    bool newline = !body->json.empty() && body->json.back() == '\n';
    return Success(newline ? body->json : body->json + "\n");
  }
  std::string out;
  FlattenStatus(document, "", &out);
  return Success(std::move(out));
}

// The table lines of gets, one per sibling, "WALL_MS.LOGICAL VALUE", each after `indent`; get
// of a key with siblings shows the same lines.
std::string SiblingLines(const wire::GetsResponse& body, std::string_view indent) {
  std::string out;
  for (const wire::Sibling& sibling : body.siblings) {
    out += fmt::format("{}{} {}\n", indent, FormatHlcTimestamp(sibling.timestamp),
                       EscapeBytes(sibling.value));
  }
  return out;
}

Output FormatOk(const GetsCommand& gets, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::GetsResponse>(response);
  if (body == nullptr) return MalformedAnswer("GETS answer without siblings");
  // As for get: a missing key (or one whose last write was a delete) exits 1.
  if (body->siblings.empty()) return Failure(ExitCode::kNotFound, "not found: key not found");
  std::string out;
  switch (format) {
    case OutputFormat::kTable:
      return Success(SiblingLines(*body, "") +
                     fmt::format("context: {}\n", HexEncode(body->context)));
    case OutputFormat::kRaw:
      // The context first: a value may hold newlines, the hex never does.
      out = HexEncode(body->context) + "\n";
      for (const wire::Sibling& sibling : body->siblings) {
        out += FormatHlcTimestamp(sibling.timestamp) + "\t" + sibling.value + "\n";
      }
      return Success(std::move(out));
    case OutputFormat::kJson:
      break;
  }
  Json siblings = Json::array();
  for (const wire::Sibling& sibling : body->siblings) {
    Json j = Json::object();
    j["timestamp"] = FormatHlcTimestamp(sibling.timestamp);
    SetBytes(&j, "value", sibling.value);
    siblings.push_back(std::move(j));
  }
  Json j = Json::object();
  SetBytes(&j, "key", gets.key);
  j["siblings"] = std::move(siblings);
  j["context"] = HexEncode(body->context);
  return Success(JsonLine(j));
}

Output FormatOk(const IncrCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::IncrResponse>(response);
  if (body == nullptr) return MalformedAnswer("INCR answer without a value");
  if (format != OutputFormat::kJson) return Success(fmt::format("{}\n", body->value));
  Json j = Json::object();
  j["value"] = body->value;
  return Success(JsonLine(j));
}

// One element's answer, when FormatResult is called for a single SADD or SREM request (the
// element is the request's: Execute sends one request per element).
Output FormatOk(const SetOpCommand& op, OutputFormat format, const wire::Request& request,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::SetOpResponse>(response);
  const char* opcode = op.kind == SetOpCommand::Kind::kAdd ? "SADD" : "SREM";
  if (body == nullptr) return MalformedAnswer(fmt::format("{} answer without a result", opcode));
  std::string element;
  if (const auto* add = std::get_if<wire::SaddRequest>(&request.body)) element = add->element;
  if (const auto* remove = std::get_if<wire::SremRequest>(&request.body)) {
    element = remove->element;
  }
  return FormatSetOpResults(op, format, {SetOpResult{std::move(element), body->existed}});
}

Output FormatOk(const SmembersCommand&, OutputFormat format, const wire::Request&,
                const wire::Response& response, const FormatContext&) {
  const auto* body = BodyOf<wire::SmembersResponse>(response);
  if (body == nullptr) return MalformedAnswer("SMEMBERS answer without members");
  std::string out;
  switch (format) {
    case OutputFormat::kTable:
      if (body->members.empty()) return Success("(no members)\n");
      for (const std::string& member : body->members) out += EscapeBytes(member) + "\n";
      return Success(std::move(out));
    case OutputFormat::kRaw:
      for (const std::string& member : body->members) out += member + "\n";
      return Success(std::move(out));
    case OutputFormat::kJson:
      break;
  }
  Json members = Json::array();
  for (const std::string& member : body->members) {
    if (IsValidUtf8(member)) {
      members.push_back(member);
    } else {
      Json j = Json::object();
      j["base64"] = Base64Encode(member);
      members.push_back(std::move(j));
    }
  }
  return Success(JsonLine(members));
}

Output FormatOk(const ClusterCommand&, OutputFormat, const wire::Request&, const wire::Response&,
                const FormatContext&) {
  KVD_PANIC("cluster commands are rendered by RunClusterCommand");
}

}  // namespace

ExitCode ExitCodeForServerCode(Code code) {
  switch (code) {
    case Code::kOk:
      return ExitCode::kOk;
    case Code::kNotFound:
      return ExitCode::kNotFound;
    case Code::kConflict:
      return ExitCode::kConflict;
    case Code::kInvalidArgument:
    case Code::kUnsupported:
    case Code::kProtocolError:
      return ExitCode::kRejected;
    case Code::kNotLeader:
    case Code::kUnavailable:
    case Code::kTimeout:
    case Code::kIOError:
    case Code::kCorruption:
      return ExitCode::kServerFailure;
  }
  return ExitCode::kServerFailure;  // a code newer than this build
}

Output Failure(ExitCode exit_code, std::string_view message) {
  Output output;
  output.err = fmt::format("kvctl: {}\n", OneLine(message));
  output.exit_code = exit_code;
  return output;
}

std::string DescribeStatus(const Status& status) {
  return fmt::format("{}: {}", CodeWords(status.code()), OneLine(status.message()));
}

Output ServerFailure(const wire::Response& response) {
  KVD_ASSERT(!response.ok());
  std::string message = CodeWords(response.status);
  if (!response.message.empty()) message += ": " + OneLine(response.message);
  if (response.status == Code::kNotLeader && !response.detail.leader_hint.empty()) {
    message += fmt::format(" (leader: {})", OneLine(response.detail.leader_hint));
  }
  return Failure(ExitCodeForServerCode(response.status), message);
}

Output UsageError(std::string_view message) { return Failure(ExitCode::kUsage, message); }

std::string AlignColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      out += row[c];
      if (c + 1 < row.size()) out.append(widths[c] - DisplayWidth(row[c]) + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

Output TransportError(const Status& status) {
  KVD_ASSERT(!status.ok());
  return Failure(ExitCode::kUnreachable, DescribeStatus(status));
}

Output FormatResult(const Invocation& invocation, const wire::Request& request,
                    const Result<wire::Response>& result, const FormatContext& context) {
  if (!result.ok()) return TransportError(result.status());
  const wire::Response& response = result.value();
  if (!response.ok()) return ServerError(invocation, response);
  return std::visit(
      [&](const auto& command) {
        return FormatOk(command, invocation.global.output, request, response, context);
      },
      invocation.command);
}

Output FormatGetSiblings(const Invocation& invocation, const wire::Request& request,
                         const wire::Response& conflict, const Result<wire::Response>& gets) {
  const auto* get = std::get_if<GetCommand>(&invocation.command);
  KVD_ASSERT(get != nullptr);
  KVD_ASSERT(conflict.status == Code::kConflict);
  const wire::GetsResponse* body = nullptr;
  if (gets.ok() && gets->ok()) body = BodyOf<wire::GetsResponse>(*gets);
  if (body == nullptr) {
    // Without the siblings, say what the GET answered, how to read them, and why kvctl could
    // not. The GET's answer decides the exit code: the key does have siblings.
    std::string why = !gets.ok()    ? DescribeStatus(gets.status())
                      : !gets->ok() ? DescribeStatus(gets->ToStatus())
                                    : "malformed answer from the server: GETS answer without "
                                      "siblings";
    Output output = ServerError(invocation, conflict);
    output.err += fmt::format("kvctl: could not read the siblings: {}\n", why);
    return output;
  }
  OutputFormat format = invocation.global.output;
  GetsCommand as_gets{get->key};
  if (body->siblings.size() == 1) {
    // Resolved between the GET and the GETS: a GET now answers that value, with its write's
    // timestamp as the version (PROTOCOL.md, multi_leader versions).
    wire::Response single;
    single.opcode = wire::Opcode::kGet;
    single.body = wire::GetResponse{.version = body->siblings.front().timestamp,
                                    .expires_at_ms = 0,
                                    .value = body->siblings.front().value};
    return FormatOk(*get, format, request, single, FormatContext{});
  }
  // None left (deleted since the GET): not found, as gets reports it.
  if (body->siblings.empty()) return FormatOk(as_gets, format, request, *gets, FormatContext{});
  std::string key = EscapeBytes(get->key, /*quoted=*/true);
  Output output;
  if (format == OutputFormat::kTable) {
    output.out =
        fmt::format("key {} has {} siblings (concurrent writes):\n", key, body->siblings.size()) +
        SiblingLines(*body, "  ");
    // A command to copy, as scan's "-- more:" line; without a context there is none.
    if (!body->context.empty()) {
      output.out += fmt::format("-- resolve: kvctl put {} VALUE --context {}\n",
                                ShellQuote(get->key), HexEncode(body->context));
    }
  } else {
    // raw and json: exactly what gets prints, so that one parser reads both; stdout keeps to
    // that format and the reason for exit 3 goes to stderr.
    output = FormatOk(as_gets, format, request, *gets, FormatContext{});
    output.err = fmt::format(
        "kvctl: conflict: key {} has {} siblings (concurrent writes); they are printed as by "
        "kvctl gets\n",
        key, body->siblings.size());
  }
  output.exit_code = ExitCode::kConflict;
  return output;
}

Output FormatSetOpResults(const SetOpCommand& op, OutputFormat format,
                          const std::vector<SetOpResult>& results) {
  bool add = op.kind == SetOpCommand::Kind::kAdd;
  std::string out;
  switch (format) {
    case OutputFormat::kTable:
      for (const SetOpResult& r : results) {
        const char* outcome = add ? (r.existed ? "already present" : "added")
                                  : (r.existed ? "removed" : "not present");
        out += fmt::format("{}: {}\n", EscapeBytes(r.element, /*quoted=*/true), outcome);
      }
      return Success(std::move(out));
    case OutputFormat::kRaw:
      // 1 when the set changed, as Redis counts: added for sadd, removed for srem.
      for (const SetOpResult& r : results) out += (add != r.existed) ? "1\n" : "0\n";
      return Success(std::move(out));
    case OutputFormat::kJson:
      break;
  }
  Json items = Json::array();
  for (const SetOpResult& r : results) {
    Json j = Json::object();
    SetBytes(&j, "element", r.element);
    j[add ? "added" : "removed"] = add != r.existed;
    items.push_back(std::move(j));
  }
  Json j = Json::object();
  SetBytes(&j, "key", op.key);
  j["results"] = std::move(items);
  return Success(JsonLine(j));
}

std::string FormatHlcTimestamp(uint64_t packed) {
  return fmt::format("{}.{}", packed >> 16, packed & 0xFFFFu);
}

std::string EscapeBytes(std::string_view bytes, bool quoted) {
  std::string out;
  out.reserve(bytes.size() + (quoted ? 2 : 0));
  if (quoted) out.push_back('"');
  for (size_t i = 0; i < bytes.size();) i += EscapeOne(bytes, i, quoted, &out);
  if (quoted) out.push_back('"');
  return out;
}

std::string EscapeBytesTruncated(std::string_view bytes, size_t max_columns) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    std::string unit;
    size_t length = EscapeOne(bytes, i, /*quoted=*/false, &unit);
    if (DisplayWidth(out) + DisplayWidth(unit) > max_columns) {
      return out + fmt::format("... ({} bytes)", bytes.size());
    }
    out += unit;
    i += length;
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    uint32_t code_point = 0;
    size_t length = DecodeUtf8(bytes, i, &code_point);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16 |
                 static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8 |
                 static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::string ShellQuote(std::string_view bytes) {
  if (bytes.empty()) return "''";
  auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  };
  if (std::all_of(bytes.begin(), bytes.end(), safe)) return std::string(bytes);
  auto printable = [](char c) { return c >= 0x20 && c < 0x7f; };
  if (std::all_of(bytes.begin(), bytes.end(), printable)) {
    std::string out = "'";
    for (char c : bytes) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  // Bytes a terminal cannot show: bash's $'...' with \xNN escapes.
  std::string out = "$'";
  for (char c : bytes) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += c;
    } else if (printable(c)) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
    }
  }
  return out + "'";
}

std::string FormatTtl(uint64_t remaining_ms) {
  if (remaining_ms < 1000) return fmt::format("{}ms", remaining_ms);
  uint64_t seconds = remaining_ms / 1000;
  uint64_t days = seconds / 86400;
  uint64_t hours = seconds / 3600 % 24;
  uint64_t minutes = seconds / 60 % 60;
  std::string out;
  if (days > 0) out += fmt::format("{}d", days);
  if (days > 0 || hours > 0) out += fmt::format("{}h", hours);
  if (days > 0 || hours > 0 || minutes > 0) out += fmt::format("{}m", minutes);
  return out + fmt::format("{}s", seconds % 60);
}

std::string NextScanCommand(const ScanCommand& scan, std::string_view continuation) {
  std::string out = "kvctl scan";
  if (!scan.prefix.empty()) out += " --prefix " + ShellQuote(scan.prefix);
  if (!scan.from.empty()) out += " --from " + ShellQuote(scan.from);
  if (!scan.to.empty()) out += " --to " + ShellQuote(scan.to);
  if (scan.reverse) out += " --reverse";
  if (scan.keys_only) out += " --keys-only";
  if (scan.limit != 0) out += fmt::format(" --limit {}", scan.limit);
  return out + " --continuation " + HexEncode(continuation);
}

}  // namespace kvd::kvctl
