#include "common/bytes.h"

#include "common/assert.h"

namespace kvd {

void PutU32BE(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

uint32_t GetU32BE(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

void PutU64BE(char* p, uint64_t v) {
  PutU32BE(p, static_cast<uint32_t>(v >> 32));
  PutU32BE(p + 4, static_cast<uint32_t>(v));
}

uint64_t GetU64BE(const char* p) {
  return (uint64_t{GetU32BE(p)} << 32) | uint64_t{GetU32BE(p + 4)};
}

void ByteWriter::U16(uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out_->append(b, 2);
}

void ByteWriter::U32(uint32_t v) {
  char b[4];
  PutU32BE(b, v);
  out_->append(b, 4);
}

void ByteWriter::U64(uint64_t v) {
  char b[8];
  PutU64BE(b, v);
  out_->append(b, 8);
}

void ByteWriter::Bytes(std::string_view b) {
  KVD_ASSERT(b.size() <= UINT32_MAX);
  U32(static_cast<uint32_t>(b.size()));
  out_->append(b);
}

bool ByteReader::Need(size_t n) {
  if (failed_ || in_.size() - pos_ < n) {
    failed_ = true;
    return false;
  }
  return true;
}

bool ByteReader::U8(uint8_t* v) {
  if (!Need(1)) return false;
  *v = static_cast<uint8_t>(in_[pos_]);
  pos_ += 1;
  return true;
}

bool ByteReader::U16(uint16_t* v) {
  if (!Need(2)) return false;
  const auto* u = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
  *v = static_cast<uint16_t>((u[0] << 8) | u[1]);
  pos_ += 2;
  return true;
}

bool ByteReader::U32(uint32_t* v) {
  if (!Need(4)) return false;
  *v = GetU32BE(in_.data() + pos_);
  pos_ += 4;
  return true;
}

bool ByteReader::U64(uint64_t* v) {
  if (!Need(8)) return false;
  *v = GetU64BE(in_.data() + pos_);
  pos_ += 8;
  return true;
}

bool ByteReader::Bytes(std::string_view* v, uint32_t max_len) {
  uint32_t len = 0;
  if (!U32(&len)) return false;
  if (len > max_len) {
    failed_ = true;
    return false;
  }
  return Raw(len, v);
}

bool ByteReader::Raw(size_t n, std::string_view* v) {
  if (!Need(n)) return false;
  *v = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

std::string ToHex(std::string_view b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (char c : b) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(kDigits[u >> 4]);
    out.push_back(kDigits[u & 0xf]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool FromHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>((hi << 4) | lo));
  }
  return true;
}

}  // namespace kvd
