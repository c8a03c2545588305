#include "server/kv/client_table.h"

#include <fmt/format.h>

#include "common/bytes.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::kv {

namespace {

std::string ClientKey(uint64_t client_id) {
  std::string key(9, '\0');
  key[0] = kClientColumn;
  PutU64BE(key.data() + 1, client_id);
  return key;
}

}  // namespace

Status ClientTable::Load(storage::Engine* engine) {
  clients_.clear();
  by_index_.clear();
  std::unique_ptr<storage::Iterator> it = engine->NewIterator();
  const std::string prefix(1, kClientColumn);
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    std::string_view key = it->key();
    if (key.empty() || key[0] != kClientColumn) break;
    std::string_view value = it->value();
    if (key.size() != 9 || value.size() < 16) {
      return Status::Corruption(fmt::format("client table record {} is malformed", ToHex(key)));
    }
    uint64_t client_id = GetU64BE(key.data() + 1);
    Entry e{GetU64BE(value.data()), GetU64BE(value.data() + 8), std::string(value.substr(16))};
    by_index_[e.index] = client_id;
    clients_[client_id] = std::move(e);
  }
  return it->status();
}

ClientTable::Seen ClientTable::Check(uint64_t client_id, uint64_t sequence,
                                     wire::Response* response) const {
  auto it = clients_.find(client_id);
  if (it == clients_.end() || sequence > it->second.sequence) return Seen::kNew;
  if (sequence < it->second.sequence) return Seen::kStale;
  const std::string& frame = it->second.response;
  wire::FrameHeader header;
  if (frame.size() < wire::kFrameHeaderBytes ||
      !wire::DecodeFrameHeader(frame, wire::kMaxFrameBytesCeiling, &header).ok()) {
    return Seen::kStale;  // unreadable: refuse rather than apply twice
  }
  Result<wire::Response> r = wire::DecodeResponse(header, std::string_view(frame).substr(
                                                              wire::kFrameHeaderBytes));
  if (!r.ok()) return Seen::kStale;
  *response = std::move(r).value();
  return Seen::kDuplicate;
}

void ClientTable::Record(uint64_t client_id, uint64_t sequence, uint64_t index,
                         const wire::Response& response, storage::WriteBatch* batch) {
  auto it = clients_.find(client_id);
  if (it != clients_.end()) by_index_.erase(it->second.index);
  Entry& e = clients_[client_id];
  e.sequence = sequence;
  e.index = index;
  e.response.clear();
  wire::EncodeResponse(response, &e.response);
  by_index_[index] = client_id;
  std::string value(16, '\0');
  PutU64BE(value.data(), sequence);
  PutU64BE(value.data() + 8, index);
  value += e.response;
  batch->Put(ClientKey(client_id), value);
  while (clients_.size() > max_clients_) {
    auto oldest = by_index_.begin();
    batch->Delete(ClientKey(oldest->second));
    clients_.erase(oldest->second);
    by_index_.erase(oldest);
  }
}

}  // namespace kvd::kv
