// Rendering kvctl's results: what goes to stdout and stderr, and the exit code.
//
// Output formats (--output):
//   table  for people. Values are printed with EscapeBytes: printable ASCII and valid UTF-8
//          as is, '\' as "\\", every other byte as \xNN, so that the output is one line per
//          item and unambiguous. Scans print aligned columns, values cut to 120 columns.
//   json   one JSON document per invocation, on one line. Keys and values are strings
//          under "key"/"value" when they are valid UTF-8, else base64 under
//          "key_base64"/"value_base64".
//   raw    for scripts: get prints the exact value bytes with no newline; other commands
//          print bare numbers or tab-separated fields (see each command's --help).
//
// Errors go to stderr as one line, "kvctl: <what went wrong>", and stdout stays empty;
// sadd/srem that fail part-way print the elements done and say where they stopped. A get of
// a key with siblings (multi_leader) is not an error but exits 3: it prints the siblings
// (see FormatGetSiblings).
// Transport failures (no answer at all) are told apart from server answers with a non-OK
// status; see ExitCode in invocation.h.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/kvctl/invocation.h"
#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

struct Output {
  std::string out;  // bytes for stdout
  std::string err;  // bytes for stderr: empty, or lines starting "kvctl: "
  ExitCode exit_code = ExitCode::kOk;
};

// What FormatResult needs besides the answer.
struct FormatContext {
  uint64_t now_ms = 0;              // unix ms, to show a scan's remaining TTLs
  std::chrono::nanoseconds rtt{0};  // ping: the measured round trip
};

// The exit code for a server answer with status `code`: kOk 0, kNotFound 1, kConflict 3,
// kInvalidArgument/kUnsupported/kProtocolError 4, everything else 5.
ExitCode ExitCodeForServerCode(Code code);

// "kvctl: <message>\n" with exit code kUsage.
Output UsageError(std::string_view message);

// "kvctl: <code words>: <message>\n" with exit code kUnreachable: `status` came from the
// client library, not from the server (cannot connect, connection lost, timed out).
Output TransportError(const Status& status);

// "kvctl: <message>\n" (control bytes escaped, so it stays one line) with `exit_code`.
Output Failure(ExitCode exit_code, std::string_view message);

// "<code words>: <message>" on one line, e.g. "unavailable: cannot connect to kvd (...)";
// the code's name with spaces for underscores, as every kvctl error shows it.
std::string DescribeStatus(const Status& status);

// A server answer with a non-OK status: "kvctl: <code words>: <message>\n", plus
// " (leader: H:P)" for NOT_LEADER with a hint, with ExitCodeForServerCode(status).
// REQUIRES: !response.ok().
Output ServerFailure(const wire::Response& response);

// Renders the result of running `request` (built from `invocation` by BuildRequest; for a
// scan, the request of the first page) whose outcome is `result`. A scan's result holds
// all the pages' items merged (Execute does that) and the continuation of the last page.
// sadd/srem: the answer for the one element in `request` (see FormatSetOpResults).
// get: a CONFLICT answer (multi_leader siblings) adds a second line,
// "kvctl: use: kvctl gets KEY" (ExecuteWith reads the siblings instead; see
// FormatGetSiblings). gets: no siblings exits 1, "kvctl: not found: key not found".
Output FormatResult(const Invocation& invocation, const wire::Request& request,
                    const Result<wire::Response>& result, const FormatContext& context);

// A get whose GET (`request`) was answered `conflict` (status kConflict: in multi_leader, the
// key has several siblings), given `gets`, the outcome of the GETS kvctl then sent for the
// same key with the same options:
//   - two or more siblings: exit 3 (ExitCode::kConflict). table, on stdout:
//       key "KEY" has N siblings (concurrent writes):
//         WALL_MS.LOGICAL VALUE        (one line per sibling, as gets prints them)
//       -- resolve: kvctl put KEY VALUE --context HEX      (KEY as a shell word)
//     raw and json: on stdout exactly what gets prints in that format (json: one document
//     {"key":...,"siblings":[...],"context":"HEX"}), and one line on stderr,
//     "kvctl: conflict: key "KEY" has N siblings (concurrent writes); ...".
//   - one sibling (resolved in between): what get prints for that value, exit 0; its version
//     is the sibling's timestamp, as a GET answers it.
//   - none (deleted in between): "kvctl: not found: key not found", exit 1, as gets.
//   - the GETS failed (transport error, non-OK status, malformed answer): FormatResult's
//     output for `conflict` (the hint to run gets) plus
//     "kvctl: could not read the siblings: <code words>: <message>", exit 3.
// REQUIRES: invocation.command is a GetCommand; conflict.status == Code::kConflict.
Output FormatGetSiblings(const Invocation& invocation, const wire::Request& request,
                         const wire::Response& conflict, const Result<wire::Response>& gets);

// One element's answer to sadd or srem: whether `element` was a member before.
struct SetOpResult {
  std::string element;
  bool existed = false;
  bool operator==(const SetOpResult&) const = default;
};

// The output of sadd/srem for the elements in `results` (in the order sent): table one line
// per element, "\"ELEMENT\": added" / "already present" (srem: "removed" / "not present");
// raw "1" when the set changed, else "0", one per line; json {"key":...,"results":[...]}.
// Execute renders the answers of all elements with it, or of those before a failure.
Output FormatSetOpResults(const SetOpCommand& op, OutputFormat format,
                          const std::vector<SetOpResult>& results);

// ---- helpers, exposed for tests ----

// A sibling's timestamp, a packed hybrid logical clock (wall ms << 16 | logical), as
// "WALL_MS.LOGICAL".
std::string FormatHlcTimestamp(uint64_t packed);

// Table-mode escaping (see above). With `quoted`, '"' is escaped too and the result is
// wrapped in double quotes.
std::string EscapeBytes(std::string_view bytes, bool quoted = false);
// EscapeBytes, cut to at most `max_columns` display columns; a cut value ends with
// "... (N bytes)". Used for the VALUE column of scan tables.
std::string EscapeBytesTruncated(std::string_view bytes, size_t max_columns);
// True if `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF).
bool IsValidUtf8(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Lower-case hex.
std::string HexEncode(std::string_view bytes);
// A shell word that a POSIX shell (bash for $'...') reads back as `bytes`.
std::string ShellQuote(std::string_view bytes);
// Rows of cells as left-aligned columns two spaces apart (widths by display columns); the
// last column is not padded; every row ends with '\n'.
std::string AlignColumns(const std::vector<std::vector<std::string>>& rows);
// A remaining time to live: "750ms", "59s", "1m5s", "2h3m4s", "3d4h5m6s".
std::string FormatTtl(uint64_t remaining_ms);
// The scan command line that fetches the next page after `continuation`.
std::string NextScanCommand(const ScanCommand& scan, std::string_view continuation);

}  // namespace kvd::kvctl
