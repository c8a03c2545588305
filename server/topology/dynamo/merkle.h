// MerkleTree: the anti-entropy summary of one token range of the dynamo topology, kept up
// to date as writes land, so that a repair pass never has to rebuild it.
//
// The range (start, end] of the ring (common/ring) is cut into 2^depth buckets of equal
// token width. A bucket's hash is the XOR of the digests of the entries whose key token
// falls in it, so a write updates it in O(1): Toggle the entry's old digest out and the
// new one in (XOR is its own inverse; an entry is a (key, state) pair and keys are unique,
// so no two equal digests cancel by accident). Inner nodes hash their two children and
// are recomputed lazily, along the paths of buckets that changed, when a hash is read.
//
// Comparing two replicas of a range exchanges hashes top down: equal roots mean nothing
// differs (one hash crosses the wire); otherwise only the children of differing nodes are
// compared, down to the buckets that differ, whose token sub-ranges are then synchronised
// (Diff does this for two local trees; the peer protocol asks for Level and Children).
//
// Deterministic; no I/O. Thread-safety: none (Root and Node update the cache).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace kvd::topology::dynamo {

// The digest of one entry: its key and its encoded state.
uint64_t EntryDigest(std::string_view key, std::string_view state);

class MerkleTree {
 public:
  static constexpr uint32_t kMaxDepth = 20;  // 1M buckets

  // The range (start, end], wrapping around 2^64; start == end is the whole circle.
  // REQUIRES: depth <= kMaxDepth.
  MerkleTree(uint64_t start, uint64_t end, uint32_t depth);

  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }
  uint32_t depth() const { return depth_; }
  uint64_t buckets() const { return uint64_t{1} << depth_; }

  // True when `token` lies in the range.
  bool Contains(uint64_t token) const;
  // The bucket of a token in the range. REQUIRES: Contains(token).
  uint64_t BucketOf(uint64_t token) const;
  // The tokens of bucket b: (first - 1, last], i.e. first..last inclusive.
  struct Span {
    uint64_t first = 0;
    uint64_t last = 0;
  };
  Span BucketSpan(uint64_t bucket) const;

  // Folds an entry digest in, or out if it is already in (XOR). A write of key k from
  // state s1 to s2: Toggle(t, EntryDigest(k, s1)); Toggle(t, EntryDigest(k, s2)).
  // REQUIRES: Contains(token).
  void Toggle(uint64_t token, uint64_t digest);

  // Hashes. Level 0 is the root (one node), level depth the buckets.
  uint64_t Root() { return Node(0, 0); }
  uint64_t Node(uint32_t level, uint64_t index);
  // Every hash of one level, left to right (what a peer sends when asked for a level).
  std::vector<uint64_t> Level(uint32_t level);

  // The buckets in which this tree and `other` (same range and depth) differ, found top
  // down. `hashes_compared` (optional) counts the hashes looked at on the other side.
  std::vector<uint64_t> Diff(MerkleTree& other, uint64_t* hashes_compared = nullptr);

 private:
  void Refresh();

  uint64_t start_;
  uint64_t end_;
  uint32_t depth_;
  // Heap layout: node i has children 2i+1 and 2i+2; buckets are the last 2^depth nodes.
  std::vector<uint64_t> nodes_;
  std::vector<uint64_t> dirty_;  // buckets toggled since the last Refresh
};

}  // namespace kvd::topology::dynamo
