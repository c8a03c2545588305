// Ring: the consistent-hash ring of the dynamo topology, shared by the server and smart
// clients (which send each request straight to a replica).
//
// Keys and nodes live on one circle of 64-bit tokens. A key's token is Hash64(key). Each
// physical node owns `tokens` virtual nodes whose tokens are derived from its id alone
// (TokenFor(id, i)), so that every member computes the same ring from the membership
// without exchanging tokens, and so that adding or removing a node moves only the ranges
// next to its own tokens: about 1/(n+1) of the keys when an n-node ring gains a node.
//
// Replicas. The replicas of a key are found by walking the circle clockwise from the
// key's token and taking the next N distinct physical nodes (Dynamo's preference list).
// When nodes are labelled with zones (racks, availability zones), the walk first takes
// nodes of zones not yet used, and only once every zone holds a replica does it fill up
// with nodes of zones already used, as Cassandra's rack-aware placement does; so N
// replicas span min(N, zones) zones.
//
// Ranges. The circle is cut at every virtual node's token into ranges (previous token,
// token]; a range's replicas are those of any key in it, so repair and streaming work
// per range (Ranges()).
//
// Deterministic; no I/O. Thread-safety: an immutable value once built.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace kvd::ring {

// A 64-bit hash with good avalanche (FNV-1a, then the MurmurHash3 finaliser): stable
// across platforms and releases, since it decides where data lives.
uint64_t Hash64(std::string_view bytes);

// The token of virtual node `index` of node `id`.
uint64_t TokenFor(uint64_t id, uint32_t index);

struct NodeSpec {
  uint64_t id = 0;        // >= 1
  uint32_t tokens = 256;  // virtual nodes, 1..4096
  std::string zone;       // "" when unlabelled
  friend bool operator==(const NodeSpec&, const NodeSpec&) = default;
};

// (start, end]: every token t with start < t <= end, wrapping around 2^64.
struct TokenRange {
  uint64_t start = 0;
  uint64_t end = 0;
  std::vector<uint64_t> replicas;  // preference order
  friend bool operator==(const TokenRange&, const TokenRange&) = default;
};

inline constexpr uint32_t kMaxTokensPerNode = 4096;
inline constexpr size_t kMaxNodes = 4096;

class Ring {
 public:
  Ring() = default;

  // Errors: kInvalidArgument naming what was wrong (no nodes, id 0, a repeated id, tokens
  // out of range, too many nodes).
  static Result<Ring> Make(std::vector<NodeSpec> nodes);

  const std::vector<NodeSpec>& nodes() const { return nodes_; }
  bool empty() const { return nodes_.empty(); }
  size_t size() const { return nodes_.size(); }

  // The first n distinct nodes clockwise from `token` (zone-aware; see above). Fewer when
  // the ring has fewer than n nodes.
  std::vector<uint64_t> ReplicasForToken(uint64_t token, size_t n) const;
  std::vector<uint64_t> Replicas(std::string_view key, size_t n) const {
    return ReplicasForToken(Hash64(key), n);
  }
  // The node whose virtual node follows `token` (the first replica).
  uint64_t PrimaryForToken(uint64_t token) const;

  // Every range of the circle with its n replicas, in token order.
  std::vector<TokenRange> Ranges(size_t n) const;
  // Per node, the fraction of the circle it holds a replica of, with n replicas per key
  // (sums to n when every key has n replicas).
  std::map<uint64_t, double> Ownership(size_t n) const;

  // The ring as bytes (for smart clients): u32 count, count x (u64 id, u32 tokens,
  // bytes zone). Decode rebuilds the same ring. Errors: kCorruption or the checks of Make.
  std::string Encode() const;
  static Result<Ring> Decode(std::string_view bytes);

 private:
  struct VNode {
    uint64_t token;
    uint32_t node;  // index into nodes_
  };
  std::vector<NodeSpec> nodes_;  // sorted by id
  std::vector<VNode> vnodes_;    // sorted by (token, node id)
  size_t zones_ = 0;             // distinct zones ("" counts as one)
};

}  // namespace kvd::ring
