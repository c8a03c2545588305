// Checks the test vectors of docs/PROTOCOL.md against the reference codec.
//
// Goal: the specification and the implementation of wire protocol v1 cannot drift apart.
// Someone writing a client in another language works from docs/PROTOCOL.md alone, so
// every byte shown in its "Test vectors" section must be exactly what kvd sends and
// accepts. Method: parse every `<!-- vector: NAME -->` + ```hex block out of the markdown
// (comments after `#` and all whitespace stripped), look up the C++ message of that name
// in protocol_vectors.h, and check both directions: EncodeRequest/EncodeResponse of the
// message produces the document's bytes exactly, and decoding the document's bytes
// (DecodeFrameHeader, then DecodeRequest/DecodeResponse) gives back the message. The set
// of names in the document and in the table must be identical. A failure means one of:
// the codec changed the wire format (a compatibility break: bump the protocol version or
// undo it), the document was edited by hand and is now wrong, or a vector was added or
// removed on one side only. Regenerate the hex from the encoder rather than editing it.
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/wire/codec.h"
#include "tests/unit/wire/protocol_vectors.h"

namespace kvd::wire {
namespace {

struct DocVector {
  std::string name;
  std::string hex;  // comments and whitespace stripped, lower case
  int line = 0;     // of the vector comment, for messages
};

std::string ReadProtocolDoc() {
  std::ifstream in(KVD_SOURCE_DIR "/docs/PROTOCOL.md", std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Strips a `# comment` and all whitespace from one line of a hex block.
std::string HexDigitsOf(const std::string& line) {
  std::string out;
  for (char c : line.substr(0, line.find('#'))) {
    if (c == ' ' || c == '\t' || c == '\r') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// Extracts every vector. Fails the test on a malformed vector, a duplicate name, or a
// ```hex block that no vector comment names.
std::vector<DocVector> ParseVectors(const std::string& doc) {
  static const std::string kOpen = "<!-- vector:";
  static const std::string kClose = "-->";
  std::vector<std::string> lines;
  std::istringstream in(doc);
  for (std::string l; std::getline(in, l);) lines.push_back(l);

  std::vector<DocVector> out;
  std::set<std::string> names;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string line = Trim(lines[i]);
    if (line == "```hex") {
      FAIL("docs/PROTOCOL.md line " << i + 1 << ": ```hex block without a vector comment");
    }
    if (line.rfind(kOpen, 0) != 0) continue;
    INFO("docs/PROTOCOL.md line " << i + 1 << ": " << line);
    REQUIRE(line.size() > kOpen.size() + kClose.size());
    REQUIRE(line.substr(line.size() - kClose.size()) == kClose);
    DocVector v;
    v.name = Trim(line.substr(kOpen.size(), line.size() - kOpen.size() - kClose.size()));
    v.line = static_cast<int>(i + 1);
    REQUIRE(!v.name.empty());
    REQUIRE(names.insert(v.name).second);  // no duplicate names
    // Blank lines and prose may come between the comment and its block.
    size_t j = i + 1;
    while (j < lines.size() && Trim(lines[j]) != "```hex") {
      REQUIRE(Trim(lines[j]).rfind(kOpen, 0) != 0);  // the next vector started first
      ++j;
    }
    REQUIRE(j < lines.size());
    for (++j; j < lines.size() && Trim(lines[j]) != "```"; ++j) v.hex += HexDigitsOf(lines[j]);
    REQUIRE(j < lines.size());  // the block is closed
    i = j;
    out.push_back(std::move(v));
  }
  return out;
}

std::string Encode(const testing::VectorMessage& m) {
  std::string out;
  if (const auto* req = std::get_if<Request>(&m)) {
    EncodeRequest(*req, &out);
  } else {
    EncodeResponse(std::get<Response>(m), &out);
  }
  return out;
}

void CheckVector(const DocVector& v, const testing::VectorMessage& expected) {
  INFO("vector " << v.name << " (docs/PROTOCOL.md line " << v.line << ")");
  std::string bytes;
  REQUIRE(FromHex(v.hex, &bytes));

  // Encoding: the message gives exactly the document's bytes.
  CHECK(ToHex(Encode(expected)) == v.hex);

  // Decoding: the document's bytes give back the message.
  REQUIRE(bytes.size() >= kFrameHeaderBytes);
  FrameHeader header;
  Status hs = DecodeFrameHeader(bytes, kMaxFrameBytesCeiling, &header);
  REQUIRE(hs.ToString() == "ok");
  REQUIRE(header.frame_bytes() == bytes.size());
  std::string_view body = std::string_view(bytes).substr(kFrameHeaderBytes);
  if (const auto* req = std::get_if<Request>(&expected)) {
    CHECK(header.flags == 0);
    Result<Request> decoded = DecodeRequest(header, body);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == *req);
  } else {
    CHECK(header.flags == kFlagResponse);
    Result<Response> decoded = DecodeResponse(header, body);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == std::get<Response>(expected));
  }
}

TEST_CASE("wire: docs/PROTOCOL.md test vectors match the codec byte for byte",
          "[unit][wire]") {
  std::vector<DocVector> doc = ParseVectors(ReadProtocolDoc());
  std::map<std::string, testing::VectorMessage> table = testing::ProtocolVectors();
  REQUIRE(!doc.empty());

  std::set<std::string> doc_names;
  for (const DocVector& v : doc) {
    doc_names.insert(v.name);
    auto it = table.find(v.name);
    if (it == table.end()) {
      FAIL_CHECK("docs/PROTOCOL.md has vector '" << v.name
                                                 << "' that protocol_vectors.h does not know");
      continue;
    }
    CheckVector(v, it->second);
  }
  for (const auto& [name, message] : table) {
    if (doc_names.count(name) == 0) {
      FAIL_CHECK("protocol_vectors.h has vector '" << name
                                                   << "' that docs/PROTOCOL.md does not show");
    }
  }
}

TEST_CASE("wire: the vector table covers every opcode, option and topology", "[unit][wire]") {
  // The brief for the document: every opcode has a request and an OK response vector, the
  // error layouts with details (CONFLICT, NOT_LEADER) appear at least once, and so does
  // every request option.
  std::set<std::pair<uint8_t, bool>> seen;  // (opcode, is_response)
  std::set<Code> statuses;
  std::set<std::string> options;  // request options shown with a non-default value
  std::set<std::string> modes;    // HELLO response modes
  for (const auto& [name, message] : testing::ProtocolVectors()) {
    if (const auto* req = std::get_if<Request>(&message)) {
      seen.insert({static_cast<uint8_t>(req->opcode()), false});
      const RequestOptions& o = req->options;
      if (o.consistency != Consistency::kDefault) options.insert("consistency");
      if (o.durability != Durability::kDefault) options.insert("durability");
      if (!o.session_token.empty()) options.insert("session_token");
      if (o.timeout_ms != 0) options.insert("timeout_ms");
      if (o.client_id != 0) options.insert("client_id");
      if (o.sequence != 0) options.insert("sequence");
      if (o.max_staleness_ms != 0) options.insert("max_staleness_ms");
      if (!o.context.empty()) options.insert("context");
    } else {
      if (const auto* hello = std::get_if<HelloResponse>(&std::get<Response>(message).body)) {
        modes.insert(hello->mode);
      }
      const Response& r = std::get<Response>(message);
      if (r.ok()) seen.insert({static_cast<uint8_t>(r.opcode), true});
      statuses.insert(r.status);
    }
  }
  // Every opcode this build knows, so that a new opcode cannot be added without vectors.
  int known = 0;
  for (int value = 0; value < 256; ++value) {
    const auto op = static_cast<uint8_t>(value);
    if (!IsKnownOpcode(op)) continue;
    ++known;
    INFO("opcode " << OpcodeName(static_cast<Opcode>(op)));
    CHECK(seen.count({op, false}) == 1);
    CHECK(seen.count({op, true}) == 1);
  }
  CHECK(known == 15);
  for (Code c : {Code::kOk, Code::kNotFound, Code::kConflict, Code::kNotLeader,
                 Code::kInvalidArgument, Code::kProtocolError}) {
    INFO("status " << CodeName(c));
    CHECK(statuses.count(c) == 1);
  }
  // Every request option tag (section 5) appears in some vector, and every topology's
  // HELLO answer is shown.
  CHECK(options == std::set<std::string>{"consistency", "durability", "session_token",
                                         "timeout_ms", "client_id", "sequence",
                                         "max_staleness_ms", "context"});
  CHECK(modes == std::set<std::string>{"single", "leader_follower", "multi_leader"});
}

TEST_CASE("wire: the vector parser strips comments and whitespace", "[unit][wire]") {
  const std::string doc =
      "prose\n"
      "<!-- vector: a -->\n"
      "\n"
      "Some text.\n"
      "```hex\n"
      "00 0A   # a comment with hex-like words: ff ff\n"
      "\tFF# no space before the comment\n"
      "```\n"
      "<!-- vector: b -->\n"
      "```hex\n"
      "```\n";
  std::vector<DocVector> v = ParseVectors(doc);
  REQUIRE(v.size() == 2);
  CHECK(v[0].name == "a");
  CHECK(v[0].hex == "000aff");
  CHECK(v[0].line == 2);
  CHECK(v[1].name == "b");
  CHECK(v[1].hex.empty());
}

}  // namespace
}  // namespace kvd::wire
