// ByteWriter / ByteReader: bounds-checked big-endian encoding of integers and
// length-prefixed byte strings, the building blocks of the wire protocol and of on-disk
// records.
//
// Encodings (all integers are unsigned, big-endian, fixed width):
//   u8, u16, u32, u64        1, 2, 4, 8 bytes
//   bytes                    u32 length, then that many raw bytes
//
// ByteReader never reads past the end of its input: every accessor returns false (and
// leaves the reader in a failed state) when the input is too short, and the caller turns
// that into a Status naming the field. Once failed, every later read fails too.
//
// Thread-safety: plain values; no sharing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvd {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  // REQUIRES: b.size() <= UINT32_MAX.
  void Bytes(std::string_view b);
  void Raw(std::string_view b) { out_->append(b); }

  size_t size() const { return out_->size(); }
  std::string* out() { return out_; }

 private:
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  [[nodiscard]] bool U8(uint8_t* v);
  [[nodiscard]] bool U16(uint16_t* v);
  [[nodiscard]] bool U32(uint32_t* v);
  [[nodiscard]] bool U64(uint64_t* v);
  // Reads a u32 length and that many bytes. Fails if the length exceeds `max_len` or the
  // remaining input. The view aliases the input buffer.
  [[nodiscard]] bool Bytes(std::string_view* v, uint32_t max_len = UINT32_MAX);
  // Reads exactly n raw bytes.
  [[nodiscard]] bool Raw(size_t n, std::string_view* v);

  size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool failed() const { return failed_; }
  bool done() const { return !failed_ && pos_ == in_.size(); }

 private:
  bool Need(size_t n);

  std::string_view in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Free helpers for fixed-width big-endian values in raw buffers.
// REQUIRES: p points at >= 4 (resp. 8) readable/writable bytes.
void PutU32BE(char* p, uint32_t v);
uint32_t GetU32BE(const char* p);
void PutU64BE(char* p, uint64_t v);
uint64_t GetU64BE(const char* p);

// Lower-case hex of `b` ("0a1f"), and its inverse (false on odd length or a non-hex digit).
std::string ToHex(std::string_view b);
[[nodiscard]] bool FromHex(std::string_view hex, std::string* out);

}  // namespace kvd
