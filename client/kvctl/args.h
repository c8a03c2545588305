// Command-line parsing for kvctl: argv -> Invocation, the help texts, and the small value
// parsers (durations, numbers, endpoint lists, hex) the commands share.
//
// Syntax: kvctl [GLOBAL OPTIONS] COMMAND [ARGS AND OPTIONS], where COMMAND is a word
// ("get") or a group and a subcommand ("member add"). Global options may also follow
// the command; command options and positional arguments may be interleaved; `--` ends the
// options, so later words are positional even if they start with '-'. Options are never
// abbreviated (a future option must not change what an old script means).
//
// Every parser here is pure: no I/O and no environment access (main.cc reads
// KVCTL_ENDPOINTS and passes it in). Every error is kInvalidArgument with a one-line
// message meant to follow "kvctl: "; the caller exits with ExitCode::kUsage.
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

namespace kvd::kvctl {

// What kvctl reads from its environment.
struct Environment {
  std::string endpoints;  // KVCTL_ENDPOINTS; empty when unset
};

// Parses the arguments after argv[0].
// Returns a HelpCommand for --help/-h (anywhere before `--`) and for `help [COMMAND]`.
// Errors (kInvalidArgument): no command, an unknown command (the message suggests the
// closest one), unknown or repeated options, missing or extra arguments, malformed values.
Result<Invocation> ParseArgs(const std::vector<std::string>& args, const Environment& env);

// "500ms", "5s", "2m", "1h", or a plain number of milliseconds ("250"). Zero is accepted;
// callers that need a positive duration check. Errors: empty, signs, fractions, unknown
// units, overflow.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A decimal unsigned integer, no sign, no spaces, at most `max`. `what` names the value in
// the error message (e.g. "--limit").
Result<uint64_t> ParseUnsigned(std::string_view text, std::string_view what,
                               uint64_t max = UINT64_MAX);

// A decimal signed 64-bit integer: an optional '-', then digits; no '+', no spaces. `what`
// names the value in the error message (e.g. "AMOUNT").
Result<int64_t> ParseSigned(std::string_view text, std::string_view what);

// "h:p[,h:p...]" (spaces around commas allowed); each entry is checked with
// client::ParseEndpoint. Errors: an empty list or entry, or a malformed endpoint.
Result<std::vector<std::string>> ParseEndpointList(std::string_view list);

// Hex (either case, even length) -> bytes.
Result<std::string> ParseHex(std::string_view hex);

// The top-level help (`kvctl --help`): commands, global options, durations, exit codes.
std::string GeneralHelp();
// One command's help: usage, description, options, examples. REQUIRES: IsCommand(name).
std::string CommandHelp(std::string_view name);
// The help of a command group ("cluster", "member"): its subcommands. REQUIRES: the name
// of a group.
std::string GroupHelp(std::string_view group);
// The command names, in help order ("get", "put", ..., "cluster status", "promote", ...,
// "member add", ..., "help"). A name of two words is a group and a subcommand.
std::vector<std::string> CommandNames();
bool IsCommand(std::string_view name);

// The candidate closest to `word` by edit distance, or "" when none is close enough to be
// a plausible typo (distance at most max(2, word.size() / 2)).
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace kvd::kvctl
