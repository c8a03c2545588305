// Batch ops as text: the words of `kvctl batch OP...` and the lines of `kvctl batch --file`.
//
// Ops (VERSION 0 in a check means "the key must be absent"; batch puts carry no TTL):
//
//   put KEY VALUE      get KEY      del KEY      check KEY VERSION
//
// Command line: each argument is one word, taken literally (the shell already did the
// quoting); ops follow each other: `kvctl batch put a 1 get b check a 0`.
//
// Script (--file): one op per line. Words are separated by spaces, tabs or carriage
// returns. A word that contains these, '"', or bytes that are not printable is written in
// double quotes, where these escapes apply: \\ \" \n \r \t \0 and \xNN (two hex digits);
// nothing else may follow a backslash. A quoted word ends at its closing quote, which must
// be followed by a blank or the end of the line. Outside quotes a word is literal: a backslash is a
// backslash, and '"' may not appear. Empty lines and lines whose first non-blank character
// is '#' are ignored; a trailing "\r" (CRLF files) is dropped. Example:
//
//   # move the greeting, if nobody changed it
//   check greeting 3
//   put "greeting 2" "hello, world\n"
//   del greeting
//
// Errors are kInvalidArgument, name the op (numbered from 0, as in kvctl's output) and, for
// scripts, the line (numbered from 1).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

// Parses command-line words into ops. Errors: no words, an unknown op word (with a
// suggestion), missing operands, an empty KEY, a malformed VERSION.
Result<std::vector<wire::BatchOp>> ParseBatchWords(const std::vector<std::string>& words);

// Parses a batch script. `source` names it in error messages (e.g. the path).
// Errors: as ParseBatchWords, plus quoting errors and extra words after an op, each as
// "<source> line N: ...". A script without ops is an error.
Result<std::vector<wire::BatchOp>> ParseBatchScript(std::string_view text, std::string_view source);

// Splits one script line into words (quotes removed, escapes applied).
// Errors: an unterminated quote, an unknown escape, text right after a closing quote, '"'
// inside an unquoted word.
Result<std::vector<std::string>> SplitScriptLine(std::string_view line);

// Writes `word` so that SplitScriptLine reads it back as one word: as is when it is safe
// bare, else in double quotes with escapes. Used to show keys in kvctl's batch output.
std::string QuoteScriptWord(std::string_view word);

// "put", "get", "del" or "check".
const char* BatchOpName(wire::BatchOpType type);

}  // namespace kvd::kvctl
