#include "common/ring/ring.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace kvd::ring {

uint64_t Hash64(std::string_view bytes) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  // MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t TokenFor(uint64_t id, uint32_t index) {
  char buf[12];
  PutU64BE(buf, id);
  PutU32BE(buf + 8, index);
  return Hash64(std::string_view(buf, sizeof buf));
}

Result<Ring> Ring::Make(std::vector<NodeSpec> nodes) {
  if (nodes.empty()) return Status::InvalidArgument("a ring needs at least one node");
  if (nodes.size() > kMaxNodes) {
    return Status::InvalidArgument(
        fmt::format("{} nodes is too many for a ring; at most {}", nodes.size(), kMaxNodes));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeSpec& a, const NodeSpec& b) { return a.id < b.id; });
  std::set<std::string> zones;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeSpec& n = nodes[i];
    if (n.id == 0) return Status::InvalidArgument("ring node id 0: ids start at 1");
    if (i > 0 && nodes[i - 1].id == n.id) {
      return Status::InvalidArgument(fmt::format("ring node {} is listed twice", n.id));
    }
    if (n.tokens == 0 || n.tokens > kMaxTokensPerNode) {
      return Status::InvalidArgument(fmt::format(
          "ring node {}: {} tokens; expected 1 to {}", n.id, n.tokens, kMaxTokensPerNode));
    }
    zones.insert(n.zone);
  }
  Ring r;
  r.nodes_ = std::move(nodes);
  r.zones_ = zones.size();
  for (uint32_t i = 0; i < r.nodes_.size(); ++i) {
    for (uint32_t t = 0; t < r.nodes_[i].tokens; ++t) {
      r.vnodes_.push_back(VNode{TokenFor(r.nodes_[i].id, t), i});
    }
  }
  std::sort(r.vnodes_.begin(), r.vnodes_.end(), [&](const VNode& a, const VNode& b) {
    return a.token != b.token ? a.token < b.token : a.node < b.node;
  });
  return r;
}

std::vector<uint64_t> Ring::ReplicasForToken(uint64_t token, size_t n) const {
  std::vector<uint64_t> out;
  if (vnodes_.empty() || n == 0) return out;
  n = std::min(n, nodes_.size());
  // The first virtual node at or after the token owns it (ranges are (previous, token]).
  auto it = std::lower_bound(vnodes_.begin(), vnodes_.end(), token,
                             [](const VNode& v, uint64_t t) { return v.token < t; });
  size_t start = it == vnodes_.end() ? 0 : static_cast<size_t>(it - vnodes_.begin());
  std::vector<bool> taken(nodes_.size(), false);
  std::vector<uint32_t> deferred;  // distinct nodes passed over because their zone was used
  std::set<std::string_view> used_zones;
  const bool zone_aware = zones_ > 1;
  size_t seen = 0;  // distinct nodes met so far
  std::vector<bool> met(nodes_.size(), false);
  for (size_t k = 0; k < vnodes_.size() && out.size() < n && seen < nodes_.size(); ++k) {
    const uint32_t idx = vnodes_[(start + k) % vnodes_.size()].node;
    if (met[idx]) continue;
    met[idx] = true;
    ++seen;
    const NodeSpec& node = nodes_[idx];
    if (zone_aware && used_zones.count(node.zone) != 0) {
      deferred.push_back(idx);
      continue;
    }
    used_zones.insert(node.zone);
    taken[idx] = true;
    out.push_back(node.id);
  }
  // Every zone holds a replica (or the ring ran out of new zones): fill up in walk order.
  for (uint32_t idx : deferred) {
    if (out.size() >= n) break;
    if (!taken[idx]) out.push_back(nodes_[idx].id);
  }
  return out;
}

uint64_t Ring::PrimaryForToken(uint64_t token) const {
  std::vector<uint64_t> r = ReplicasForToken(token, 1);
  return r.empty() ? 0 : r.front();
}

std::vector<TokenRange> Ring::Ranges(size_t n) const {
  std::vector<TokenRange> out;
  for (size_t i = 0; i < vnodes_.size(); ++i) {
    const uint64_t end = vnodes_[i].token;
    const uint64_t start = i == 0 ? vnodes_.back().token : vnodes_[i - 1].token;
    if (i > 0 && start == end) continue;  // two virtual nodes on one token: an empty range
    out.push_back(TokenRange{start, end, ReplicasForToken(end, n)});
  }
  return out;
}

std::map<uint64_t, double> Ring::Ownership(size_t n) const {
  std::map<uint64_t, double> share;
  for (const NodeSpec& node : nodes_) share[node.id] = 0;
  constexpr double kCircle = 18446744073709551616.0;  // 2^64
  for (const TokenRange& r : Ranges(n)) {
    // (start, end] wrapping; one range that starts where it ends is the whole circle.
    const double width =
        r.start == r.end ? kCircle : static_cast<double>(r.end - r.start);  // mod 2^64
    for (uint64_t id : r.replicas) share[id] += width / kCircle;
  }
  return share;
}

std::string Ring::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.U32(static_cast<uint32_t>(nodes_.size()));
  for (const NodeSpec& n : nodes_) {
    w.U64(n.id);
    w.U32(n.tokens);
    w.Bytes(n.zone);
  }
  return out;
}

Result<Ring> Ring::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  uint32_t count = 0;
  if (!r.U32(&count) || count > kMaxNodes) return Status::Corruption("ring: bad node count");
  std::vector<NodeSpec> nodes(count);
  for (NodeSpec& n : nodes) {
    std::string_view zone;
    if (!r.U64(&n.id) || !r.U32(&n.tokens) || !r.Bytes(&zone, 1024)) {
      return Status::Corruption("ring: a node is truncated");
    }
    n.zone.assign(zone);
  }
  if (!r.done()) return Status::Corruption("ring: trailing bytes");
  return Make(std::move(nodes));
}

}  // namespace kvd::ring
