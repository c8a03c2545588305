// KVD_ASSERT / KVD_PANIC: checks of internal invariants that stay on in every build.
//
// Use them only for programmer errors (a broken invariant). Never assert on bytes from the
// network, the disk or the config: those are Status values. A failed assertion prints the
// condition and location to stderr and aborts, so a core dump or sanitizer report follows.
//
// Thread-safety: safe from any thread.
#pragma once

namespace kvd::detail {
[[noreturn]] void AssertFail(const char* condition, const char* file, int line, const char* msg);
}  // namespace kvd::detail

#define KVD_ASSERT(cond)                                                 \
  do {                                                                   \
    if (!(cond)) ::kvd::detail::AssertFail(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define KVD_ASSERT_MSG(cond, msg)                                          \
  do {                                                                     \
    if (!(cond)) ::kvd::detail::AssertFail(#cond, __FILE__, __LINE__, msg); \
  } while (0)

#define KVD_PANIC(msg) ::kvd::detail::AssertFail("panic", __FILE__, __LINE__, msg)
