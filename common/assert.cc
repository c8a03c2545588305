#include "common/assert.h"

#include <cstdio>
#include <cstdlib>

namespace kvd::detail {

void AssertFail(const char* condition, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "FATAL %s:%d: assertion failed: %s %s\n", file, line, condition, msg);
  std::fflush(stderr);
  std::abort();
}

}  // namespace kvd::detail
