// ReadBuffer: the receive buffer of a framed connection (server and client side).
//
// Bytes arrive at the end (WritePtr/Commit) and complete frames are consumed from the
// front (Readable/Consume). Compaction moves only the unconsumed bytes, and only when the
// free tail is too small, so a connection that reads many small frames does no copying at
// all; the buffer grows to hold one whole frame when a large one arrives, never more.
//
// Thread-safety: none; one connection's loop.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/assert.h"

namespace kvd {

class ReadBuffer {
 public:
  // Unconsumed bytes.
  std::string_view Readable() const { return {data_.get() + start_, end_ - start_}; }
  void Consume(size_t n) {
    KVD_ASSERT(n <= end_ - start_);
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;  // empty: restart at the front for free
  }
  // Makes room for at least `n` more bytes after the unconsumed ones and returns where to
  // write them; WritableBytes() says how many fit.
  char* Reserve(size_t n) {
    if (capacity_ - end_ >= n) return data_.get() + end_;
    size_t live = end_ - start_;
    if (capacity_ - live < n) {
      size_t capacity = std::max(capacity_ * 2, live + n);
      std::unique_ptr<char[]> bigger(new char[capacity]);  // uninitialized on purpose
      if (live > 0) std::memcpy(bigger.get(), data_.get() + start_, live);
      data_ = std::move(bigger);
      capacity_ = capacity;
    } else if (live > 0) {
      std::memmove(data_.get(), data_.get() + start_, live);
    }
    start_ = 0;
    end_ = live;
    return data_.get() + end_;
  }
  size_t WritableBytes() const { return capacity_ - end_; }
  void Commit(size_t n) {
    KVD_ASSERT(n <= capacity_ - end_);
    end_ += n;
  }
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t start_ = 0;
  size_t end_ = 0;
};

}  // namespace kvd
