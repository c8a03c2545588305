// Helpers shared by the config tests: parse a document that must be accepted or rejected,
// and read a file of the source tree.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "common/config/config.h"

namespace kvd::config {

// The error message of a config that must be rejected.
inline std::string ErrorOf(std::string_view yaml) {
  Result<Config> r = ParseConfig(yaml);
  INFO(yaml);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

// The Config of a document that must be accepted.
inline Config Parse(std::string_view yaml) {
  Result<Config> r = ParseConfig(yaml);
  INFO(yaml);
  if (!r.ok()) FAIL(r.status().message());
  return r.value();
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace kvd::config
