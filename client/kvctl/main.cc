// kvctl: the command-line client for kvd. Everything but the process boundary (argv, the
// environment, the standard streams) lives in kvd_kvctl_lib; see run.h.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/kvctl/run.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);  // values can be large; stdin and stdout carry raw bytes
  std::vector<std::string> args(argv + 1, argv + argc);
  kvd::kvctl::Environment env;
  if (const char* endpoints = std::getenv("KVCTL_ENDPOINTS")) env.endpoints = endpoints;
  return kvd::kvctl::Main(args, env, std::cin, std::cout, std::cerr);
}
