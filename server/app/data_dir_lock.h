// DataDirLock: keeps a second kvd from opening a data directory that one already uses.
//
// Takes an exclusive flock(2) on <data_dir>/kvd.lock and writes the holder's pid into it.
// The kernel drops the lock when the process dies, even by kill -9, so a stale file never
// blocks a restart.
//
// Thread-safety: not shared.
#pragma once

#include <string>

#include "common/status.h"

namespace kvd::app {

class DataDirLock {
 public:
  DataDirLock() = default;
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  // Creates data_dir if needed and locks it.
  // Errors: kIOError naming the directory: cannot create it, not writable, or in use by
  // another process (with that process's pid when known).
  Status Acquire(const std::string& data_dir);

 private:
  int fd_ = -1;
};

}  // namespace kvd::app
