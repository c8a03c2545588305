// KvStore::ApplyScan: a SCAN page, merging the engine's keys with the overlay of writes
// that are applied but not yet durable, so that a scan sees the same state as a GET.
#include <fmt/format.h>

#include "server/kv/kv_store.h"
#include "server/kv/scan_range.h"

namespace kvd::kv {

namespace {

// Bytes a scan item adds to a response frame.
size_t ItemWireBytes(size_t key_bytes, size_t value_bytes) {
  return 4 + key_bytes + 8 + 8 + 4 + value_bytes;
}

// Bytes a continuation token naming a key of key_bytes adds to a response (see
// scan_range.h; its length prefix is part of the fixed overhead below).
size_t ContinuationWireBytes(size_t key_bytes) { return 2 + key_bytes; }

// Room kept in a page for the frame header, status, session token and the continuation's
// length prefix. The token itself repeats the page's last key, which may be far longer
// than this, so the page budget counts it separately.
constexpr size_t kScanPageOverheadBytes = 1024;

// Walks the data column of an engine within a range, in either direction, yielding user
// keys.
class EngineCursor {
 public:
  EngineCursor(storage::Engine* engine, const KeyRange& range, bool reverse)
      : it_(engine->NewIterator()), range_(range), reverse_(reverse) {
    if (!reverse_) {
      it_->Seek(DataKey(range_.lower));
    } else {
      // The first key at or above the upper bound (or the next column), then step back.
      it_->Seek(range_.upper ? DataKey(*range_.upper) : std::string(1, kDataColumn + 1));
      if (it_->Valid()) {
        it_->Prev();
      } else {
        it_->SeekToLast();
      }
    }
    Settle();
  }
  bool Valid() const { return valid_; }
  std::string_view key() const { return it_->key().substr(1); }
  std::string_view raw_value() const { return it_->value(); }
  void Advance() {
    if (reverse_) {
      it_->Prev();
    } else {
      it_->Next();
    }
    Settle();
  }
  Status status() const { return it_->status(); }

 private:
  // Skips keys outside the data column or the range; valid_ is false at the end.
  void Settle() {
    while (it_->Valid()) {
      std::string_view k = it_->key();
      bool in_column = !k.empty() && k[0] == kDataColumn;
      if (!reverse_) {
        valid_ = in_column && range_.Contains(k.substr(1));
        return;
      }
      // Backwards we may start above the column (SeekToLast); skip down into it.
      if (!k.empty() && k[0] > kDataColumn) {
        it_->Prev();
        continue;
      }
      valid_ = in_column && range_.Contains(k.substr(1));
      return;
    }
    valid_ = false;
  }

  std::unique_ptr<storage::Iterator> it_;
  const KeyRange& range_;
  bool reverse_;
  bool valid_ = false;
};

}  // namespace

wire::Response KvStore::ApplyScan(const wire::ScanRequest& r, uint64_t now_ms,
                                  wire::Response resp) {
  KeyRange range = ScanKeyRange(r);
  if (Status s = ApplyContinuation(r, &range); !s.ok()) {
    return wire::Response::Error(resp.request_id, resp.opcode, s);
  }
  const size_t limit = r.limit == 0 ? options_.limits.max_scan_limit : r.limit;
  const size_t budget = options_.limits.max_frame_bytes > kScanPageOverheadBytes
                            ? options_.limits.max_frame_bytes - kScanPageOverheadBytes
                            : 0;
  wire::ScanResponse out;
  size_t bytes = 0;
  bool more = false;
  if (!range.Empty()) {
    EngineCursor engine(engine_, range, r.reverse);
    // The overlay in the same direction, restricted to the range.
    auto ov = r.reverse ? (range.upper ? overlay_.lower_bound(*range.upper) : overlay_.end())
                        : overlay_.lower_bound(range.lower);
    auto ov_valid = [&]() {
      if (r.reverse) return ov != overlay_.begin() && range.Contains(std::prev(ov)->first);
      return ov != overlay_.end() && range.Contains(ov->first);
    };
    auto ov_entry = [&]() -> decltype(*ov)& { return r.reverse ? *std::prev(ov) : *ov; };
    auto ov_advance = [&]() {
      if (r.reverse) {
        --ov;
      } else {
        ++ov;
      }
    };
    // Returns true if a comes before b in scan order.
    auto before = [&](std::string_view a, std::string_view b) { return r.reverse ? a > b : a < b; };

    while (engine.Valid() || ov_valid()) {
      std::optional<Record> rec;
      std::string key;
      bool take_overlay = ov_valid() && (!engine.Valid() || !before(engine.key(), ov_entry().first));
      if (take_overlay) {
        key = ov_entry().first;
        rec = ov_entry().second.record;
        if (engine.Valid() && engine.key() == key) engine.Advance();  // overlay shadows it
        ov_advance();
      } else {
        key.assign(engine.key());
        auto decoded = DecodeRecord(key, engine.raw_value());
        if (!decoded.ok()) return wire::Response::Error(resp.request_id, resp.opcode, decoded.status());
        rec = std::move(decoded).value();
        engine.Advance();
      }
      if (!rec || rec->ExpiredAt(now_ms)) continue;
      size_t item_bytes = ItemWireBytes(key.size(), r.keys_only ? 0 : rec->value.size());
      // If this item ends the page, the token repeats its key: keep room for it too, or a
      // full page of long keys would overflow max_frame_bytes.
      size_t token_bytes = ContinuationWireBytes(key.size());
      if (out.items.size() == limit ||
          (!out.items.empty() && bytes + item_bytes + token_bytes > budget)) {
        more = true;
        break;
      }
      bytes += item_bytes;
      out.items.push_back(wire::ScanItem{std::move(key), rec->version, rec->expires_at_ms,
                                         r.keys_only ? std::string() : std::move(rec->value)});
    }
    if (Status s = engine.status(); !s.ok()) {
      return wire::Response::Error(resp.request_id, resp.opcode, s.WithContext("scan"));
    }
  }
  if (more) out.continuation = EncodeContinuation(r.reverse, out.items.back().key);
  resp.body = std::move(out);
  return resp;
}

}  // namespace kvd::kv
