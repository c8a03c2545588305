#include "common/clock/version_vector.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvd::clock {

std::string Dot::ToString() const { return fmt::format("{}:{}", node, counter); }

uint64_t VersionVector::Get(NodeId node) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), node,
                             [](const auto& e, NodeId n) { return e.first < n; });
  return it != entries_.end() && it->first == node ? it->second : 0;
}

void VersionVector::Witness(NodeId node, uint64_t counter) {
  if (counter == 0) return;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), node,
                             [](const auto& e, NodeId n) { return e.first < n; });
  if (it != entries_.end() && it->first == node) {
    it->second = std::max(it->second, counter);
  } else {
    entries_.insert(it, {node, counter});
  }
}

void VersionVector::Join(const VersionVector& other) {
  if (other.entries_.empty()) return;
  if (entries_.empty()) {
    entries_ = other.entries_;
    return;
  }
  std::vector<std::pair<NodeId, uint64_t>> out;
  out.reserve(entries_.size() + other.entries_.size());
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < other.entries_.size()) {
    if (j == other.entries_.size() ||
        (i < entries_.size() && entries_[i].first < other.entries_[j].first)) {
      out.push_back(entries_[i++]);
    } else if (i == entries_.size() || other.entries_[j].first < entries_[i].first) {
      out.push_back(other.entries_[j++]);
    } else {
      out.emplace_back(entries_[i].first, std::max(entries_[i].second, other.entries_[j].second));
      ++i;
      ++j;
    }
  }
  entries_ = std::move(out);
}

Causality VersionVector::Compare(const VersionVector& other) const {
  bool ahead = false;   // this saw something other did not
  bool behind = false;  // other saw something this did not
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < other.entries_.size()) {
    if (j == other.entries_.size() ||
        (i < entries_.size() && entries_[i].first < other.entries_[j].first)) {
      ahead = true;
      ++i;
    } else if (i == entries_.size() || other.entries_[j].first < entries_[i].first) {
      behind = true;
      ++j;
    } else {
      if (entries_[i].second > other.entries_[j].second) ahead = true;
      if (entries_[i].second < other.entries_[j].second) behind = true;
      ++i;
      ++j;
    }
  }
  if (ahead && behind) return Causality::kConcurrent;
  if (ahead) return Causality::kAfter;
  if (behind) return Causality::kBefore;
  return Causality::kEqual;
}

bool VersionVector::Descends(const VersionVector& other) const {
  const Causality c = Compare(other);
  return c == Causality::kEqual || c == Causality::kAfter;
}

uint64_t VersionVector::Total() const {
  uint64_t total = 0;
  for (const auto& [node, counter] : entries_) total += counter;
  return total;
}

void VersionVector::Encode(ByteWriter* w) const {
  w->U16(static_cast<uint16_t>(entries_.size()));
  for (const auto& [node, counter] : entries_) {
    w->U64(node);
    w->U64(counter);
  }
}

Status VersionVector::Decode(ByteReader* r, VersionVector* out) {
  uint16_t n = 0;
  if (!r->U16(&n)) return Status::Corruption("version vector: truncated entry count");
  if (n > kMaxEntries) {
    return Status::Corruption(
        fmt::format("version vector: {} entries (at most {})", n, kMaxEntries));
  }
  VersionVector vv;
  vv.entries_.reserve(n);
  for (uint16_t k = 0; k < n; ++k) {
    uint64_t node = 0, counter = 0;
    if (!r->U64(&node) || !r->U64(&counter)) {
      return Status::Corruption(fmt::format("version vector: entry {} of {} truncated", k, n));
    }
    if (counter == 0) return Status::Corruption("version vector: zero counter");
    if (!vv.entries_.empty() && vv.entries_.back().first >= node) {
      return Status::Corruption("version vector: node ids not strictly increasing");
    }
    vv.entries_.emplace_back(node, counter);
  }
  *out = std::move(vv);
  return Status::Ok();
}

std::string VersionVector::ToString() const {
  std::string s = "{";
  for (size_t k = 0; k < entries_.size(); ++k) {
    if (k > 0) s += ", ";
    s += fmt::format("{}:{}", entries_[k].first, entries_[k].second);
  }
  return s + "}";
}

}  // namespace kvd::clock
