#include "client/kvctl/batch_script.h"

#include <fmt/format.h>

#include <optional>

#include "client/kvctl/args.h"
#include "client/kvctl/output.h"

namespace kvd::kvctl {

namespace {

constexpr std::string_view kOpSyntax =
    "ops are: put KEY VALUE, get KEY, del KEY, check KEY VERSION";

std::string Quoted(std::string_view text) { return EscapeBytes(text, /*quoted=*/true); }

std::optional<wire::BatchOpType> OpTypeFor(std::string_view word) {
  if (word == "put") return wire::BatchOpType::kPut;
  if (word == "get") return wire::BatchOpType::kGet;
  if (word == "del") return wire::BatchOpType::kDelete;
  if (word == "check") return wire::BatchOpType::kCheck;
  return std::nullopt;
}

size_t OperandCount(wire::BatchOpType type) {
  return type == wire::BatchOpType::kPut || type == wire::BatchOpType::kCheck ? 2 : 1;
}

// Parses the op that starts at words[*next] and advances *next past it. `index` is the op's
// number, for messages.
Result<wire::BatchOp> ParseOneOp(const std::vector<std::string>& words, size_t* next,
                                 size_t index) {
  const std::string& name = words[*next];
  std::optional<wire::BatchOpType> type = OpTypeFor(name);
  if (!type) {
    std::string close = ClosestMatch(name, {"put", "get", "del", "check"});
    return Status::InvalidArgument(
        fmt::format("op {}: unknown op {}{}; {}", index, Quoted(name),
                    close.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", close), kOpSyntax));
  }
  size_t operands = OperandCount(*type);
  if (words.size() - *next - 1 < operands) {
    return Status::InvalidArgument(fmt::format("op {}: \"{}\" needs {}", index, name,
                                               operands == 1                      ? "KEY"
                                               : *type == wire::BatchOpType::kPut ? "KEY VALUE"
                                                                                  : "KEY VERSION"));
  }
  wire::BatchOp op;
  op.type = *type;
  op.key = words[*next + 1];
  if (op.key.empty()) {
    return Status::InvalidArgument(fmt::format("op {}: KEY must not be empty", index));
  }
  if (op.type == wire::BatchOpType::kPut) op.value = words[*next + 2];
  if (op.type == wire::BatchOpType::kCheck) {
    Result<uint64_t> version = ParseUnsigned(words[*next + 2], "VERSION");
    if (!version.ok()) return version.status().WithContext(fmt::format("op {}: check", index));
    op.expected_version = *version;
  }
  *next += 1 + operands;
  return op;
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads the quoted word that starts at line[*pos] (the opening quote) into *word.
Status ReadQuotedWord(std::string_view line, size_t* pos, std::string* word) {
  size_t i = *pos + 1;
  while (true) {
    if (i >= line.size()) return Status::InvalidArgument("unterminated quote");
    char c = line[i];
    if (c == '"') break;
    if (c != '\\') {
      word->push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= line.size()) return Status::InvalidArgument("unterminated quote");
    char e = line[i + 1];
    i += 2;
    switch (e) {
      case '\\':
        word->push_back('\\');
        break;
      case '"':
        word->push_back('"');
        break;
      case 'n':
        word->push_back('\n');
        break;
      case 'r':
        word->push_back('\r');
        break;
      case 't':
        word->push_back('\t');
        break;
      case '0':
        word->push_back('\0');
        break;
      case 'x': {
        int high = i < line.size() ? HexDigit(line[i]) : -1;
        int low = i + 1 < line.size() ? HexDigit(line[i + 1]) : -1;
        if (high < 0 || low < 0) {
          return Status::InvalidArgument("\\x must be followed by two hex digits");
        }
        word->push_back(static_cast<char>(high * 16 + low));
        i += 2;
        break;
      }
      default:
        return Status::InvalidArgument(
            fmt::format(R"msg(unknown escape {} (escapes: \\ \" \n \r \t \0 \xNN))msg",
                        Quoted(std::string{'\\', e})));
    }
  }
  ++i;  // the closing quote
  if (i < line.size() && !IsBlank(line[i])) {
    return Status::InvalidArgument("a closing quote must be followed by a space or the line end");
  }
  *pos = i;
  return Status::Ok();
}

}  // namespace

const char* BatchOpName(wire::BatchOpType type) {
  switch (type) {
    case wire::BatchOpType::kCheck:
      return "check";
    case wire::BatchOpType::kGet:
      return "get";
    case wire::BatchOpType::kPut:
      return "put";
    case wire::BatchOpType::kDelete:
      return "del";
  }
  return "unknown";
}

Result<std::vector<wire::BatchOp>> ParseBatchWords(const std::vector<std::string>& words) {
  if (words.empty()) return Status::InvalidArgument(fmt::format("no ops; {}", kOpSyntax));
  std::vector<wire::BatchOp> ops;
  size_t next = 0;
  while (next < words.size()) {
    KVD_ASSIGN_OR_RETURN(wire::BatchOp op, ParseOneOp(words, &next, ops.size()));
    ops.push_back(std::move(op));
  }
  return ops;
}

Result<std::vector<std::string>> SplitScriptLine(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (true) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    if (i >= line.size()) break;
    std::string word;
    if (line[i] == '"') {
      KVD_TRY(ReadQuotedWord(line, &i, &word));
    } else {
      while (i < line.size() && !IsBlank(line[i])) {
        if (line[i] == '"') {
          return Status::InvalidArgument("'\"' inside a word (quote the whole word)");
        }
        word.push_back(line[i++]);
      }
    }
    words.push_back(std::move(word));
  }
  return words;
}

Result<std::vector<wire::BatchOp>> ParseBatchScript(std::string_view text,
                                                    std::string_view source) {
  std::vector<wire::BatchOp> ops;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t newline = text.find('\n', start);
    size_t end = newline == std::string_view::npos ? text.size() : newline;
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    auto where = [&] { return fmt::format("{} line {}", source, line_number); };
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    Result<std::vector<std::string>> words = SplitScriptLine(line);
    if (!words.ok()) return words.status().WithContext(where());
    size_t next = 0;
    Result<wire::BatchOp> op = ParseOneOp(*words, &next, ops.size());
    if (!op.ok()) return op.status().WithContext(where());
    if (next < words->size()) {
      return Status::InvalidArgument(fmt::format("{}: unexpected {} after the op (one op per line)",
                                                 where(), Quoted((*words)[next])));
    }
    ops.push_back(std::move(op).value());
  }
  if (ops.empty()) {
    return Status::InvalidArgument(fmt::format("{} has no ops; {}", source, kOpSyntax));
  }
  return ops;
}

std::string QuoteScriptWord(std::string_view word) {
  // EscapeBytes leaves exactly the printable ASCII and valid UTF-8 alone; such a word is safe
  // bare unless it has blanks or quotes, or would read as a comment.
  std::string escaped = EscapeBytes(word);
  bool bare = !word.empty() && escaped == word && word.front() != '#' &&
              word.find_first_of(" \t\r\"") == std::string_view::npos;
  return bare ? std::string(word) : EscapeBytes(word, /*quoted=*/true);
}

}  // namespace kvd::kvctl
