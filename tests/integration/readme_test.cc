// The README's kvctl examples, run as written.
//
// Goal: the examples a new user copies from README.md work and print what the README
// shows. Method: every ```console block of README.md is parsed into commands (lines
// starting with "$ ") and their expected output (the lines up to the next command);
// each command must start with "kvctl". All blocks run in order against one fresh kvd,
// as a user following the README would; a command's stdout and stderr together must
// equal the expected text. A failure shows the command and both texts: either kvctl
// changed (update the README) or it broke.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

struct Example {
  std::string command_line;
  std::vector<std::string> args;  // after "kvctl"
  std::string expected;
};

// Splits a command line into words: whitespace-separated, "double quotes" group.
std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  bool quoted = false, in_word = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(cur);
  return words;
}

std::vector<Example> ParseReadme(const std::string& text) {
  std::vector<Example> examples;
  std::istringstream in(text);
  bool in_block = false;
  for (std::string line; std::getline(in, line);) {
    if (!in_block) {
      in_block = line == "```console";
      continue;
    }
    if (line == "```") {
      in_block = false;
      continue;
    }
    if (line.rfind("$ ", 0) == 0) {
      Example e;
      e.command_line = line.substr(2);
      std::vector<std::string> words = Words(e.command_line);
      REQUIRE_FALSE(words.empty());
      INFO(line);
      REQUIRE(words[0] == "kvctl");
      e.args.assign(words.begin() + 1, words.end());
      examples.push_back(std::move(e));
    } else {
      REQUIRE_FALSE(examples.empty());
      examples.back().expected += line + "\n";
    }
  }
  return examples;
}

TEST_CASE("readme: every kvctl example prints what README.md shows", "[integration][readme]") {
  std::ifstream file(SourceDir() + "/README.md");
  REQUIRE(file);
  std::stringstream text;
  text << file.rdbuf();
  std::vector<Example> examples = ParseReadme(text.str());
  REQUIRE(examples.size() >= 10);

  KvdProcess kvd;
  Status started = kvd.Start();
  INFO(started.ToString());
  REQUIRE(started.ok());
  for (const Example& e : examples) {
    CommandResult r = Kvctl(kvd.endpoint(), e.args);
    INFO("$ " << e.command_line << "\n(exit " << r.exit_code << ")");
    CHECK(r.out + r.err == e.expected);
  }
}

}  // namespace
}  // namespace kvd::test
