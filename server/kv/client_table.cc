#include "server/kv/client_table.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::kv {

namespace {

constexpr size_t kKeyBytes = 17;  // column, client id, sequence

std::string ClientKey(uint64_t client_id, uint64_t sequence) {
  std::string key(kKeyBytes, '\0');
  key[0] = kClientColumn;
  PutU64BE(key.data() + 1, client_id);
  PutU64BE(key.data() + 9, sequence);
  return key;
}

std::string U64Value(uint64_t v) {
  std::string s(8, '\0');
  PutU64BE(s.data(), v);
  return s;
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
    if (key.size() != kKeyBytes || value.size() < 8) {
      return Status::Corruption(fmt::format("client table record {} is malformed", ToHex(key)));
    }
    uint64_t client_id = GetU64BE(key.data() + 1);
    uint64_t sequence = GetU64BE(key.data() + 9);
    if (sequence == 0) continue;  // (a record kind of an earlier format)
    Client& c = clients_[client_id];
    uint64_t index = GetU64BE(value.data());
    c.answers.push_back(Answer{sequence, index, std::string(value.substr(8))});
    c.last_index = std::max(c.last_index, index);
  }
  KVD_TRY(it->status());
  for (const auto& [id, c] : clients_) by_index_[c.last_index] = id;
  return Status::Ok();
}

ClientTable::Seen ClientTable::Check(uint64_t client_id, uint64_t sequence,
                                     wire::Response* response) const {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return Seen::kNew;
  const Client& c = it->second;
  auto answer = std::find_if(c.answers.rbegin(), c.answers.rend(),
                             [&](const Answer& a) { return a.sequence == sequence; });
  if (answer == c.answers.rend()) {
    return sequence <= c.ForgottenThrough() ? Seen::kStale : Seen::kNew;
  }
  const std::string& frame = answer->frame;
  wire::FrameHeader header;
  if (frame.size() < wire::kFrameHeaderBytes ||
      !wire::DecodeFrameHeader(frame, wire::kMaxFrameBytesCeiling, &header).ok()) {
    return Seen::kStale;  // unreadable: refuse rather than apply twice
  }
  Result<wire::Response> r = wire::DecodeResponse(
      header, std::string_view(frame).substr(wire::kFrameHeaderBytes));
  if (!r.ok()) return Seen::kStale;
  *response = std::move(r).value();
  return Seen::kDuplicate;
}

void ClientTable::ForgetClient(uint64_t client_id, storage::WriteBatch* batch) {
  auto it = clients_.find(client_id);
  if (it == clients_.end()) return;
  for (const Answer& a : it->second.answers) batch->Delete(ClientKey(client_id, a.sequence));
  by_index_.erase(it->second.last_index);
  clients_.erase(it);
}

void ClientTable::Record(uint64_t client_id, uint64_t sequence, uint64_t index,
                         const wire::Response& response, storage::WriteBatch* batch) {
  Client& c = clients_[client_id];
  if (c.last_index != 0) by_index_.erase(c.last_index);
  c.last_index = index;
  by_index_[index] = client_id;
  std::string value = U64Value(index);
  wire::EncodeResponse(response, &value);
  batch->Put(ClientKey(client_id, sequence), value);
  Answer a{sequence, index, value.substr(8)};
  // Sequences usually arrive in order; keep the deque sorted when one does not.
  auto pos = std::find_if(c.answers.rbegin(), c.answers.rend(),
                          [&](const Answer& x) { return x.sequence < sequence; });
  c.answers.insert(pos.base(), std::move(a));
  if (c.answers.size() > kWindow) {
    batch->Delete(ClientKey(client_id, c.answers.front().sequence));
    c.answers.pop_front();
  }
  while (clients_.size() > max_clients_ && !by_index_.empty()) {
    ForgetClient(by_index_.begin()->second, batch);
  }
}

}  // namespace kvd::kv
