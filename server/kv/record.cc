#include "server/kv/record.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace kvd::kv {

std::string DataKey(std::string_view user_key) {
  std::string k;
  k.reserve(1 + user_key.size());
  k.push_back(kDataColumn);
  k.append(user_key);
  return k;
}

std::string ExpiryKey(uint64_t expires_at_ms, std::string_view user_key) {
  std::string k(9, '\0');
  k[0] = kExpiryColumn;
  PutU64BE(k.data() + 1, expires_at_ms);
  k.append(user_key);
  return k;
}

bool ParseExpiryKey(std::string_view key, uint64_t* expires_at_ms, std::string_view* user_key) {
  if (key.size() < 9 || key[0] != kExpiryColumn) return false;
  *expires_at_ms = GetU64BE(key.data() + 1);
  *user_key = key.substr(9);
  return true;
}

void EncodeRecordHeader(const Record& record, char out[kRecordHeaderBytes]) {
  out[0] = static_cast<char>(kRecordFormat);
  PutU64BE(out + 1, record.version);
  PutU64BE(out + 9, record.expires_at_ms);
}

std::string EncodeRecord(const Record& record) {
  std::string out;
  out.reserve(kRecordHeaderBytes + record.value.size());
  ByteWriter w(&out);
  w.U8(kRecordFormat);
  w.U64(record.version);
  w.U64(record.expires_at_ms);
  w.Raw(record.value);
  return out;
}

Result<Record> DecodeRecord(std::string_view user_key, std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  Record rec;
  if (!r.U8(&format) || !r.U64(&rec.version) || !r.U64(&rec.expires_at_ms)) {
    return Status::Corruption(
        fmt::format("record for key {} is truncated ({} bytes)", ToHex(user_key), bytes.size()));
  }
  if (format != kRecordFormat) {
    return Status::Corruption(
        fmt::format("record for key {} has unknown format {}", ToHex(user_key), format));
  }
  rec.value.assign(bytes.substr(kRecordHeaderBytes));
  return rec;
}

}  // namespace kvd::kv
