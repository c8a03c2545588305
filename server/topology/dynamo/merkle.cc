#include "server/topology/dynamo/merkle.h"

#include <algorithm>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/ring/ring.h"

namespace kvd::topology::dynamo {

namespace {

__extension__ typedef unsigned __int128 U128;

// The number of tokens in (start, end]; 0 stands for the whole circle (2^64).
U128 Width(uint64_t start, uint64_t end) {
  return start == end ? (U128{1} << 64) : U128{end - start};
}

uint64_t Combine(uint64_t left, uint64_t right) {
  char buf[16];
  PutU64BE(buf, left);
  PutU64BE(buf + 8, right);
  return ring::Hash64(std::string_view(buf, sizeof buf));
}

}  // namespace

uint64_t EntryDigest(std::string_view key, std::string_view state) {
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  std::string buf;
  ByteWriter w(&buf);
  w.Bytes(key);
  w.Bytes(state);
  return ring::Hash64(buf);
}

MerkleTree::MerkleTree(uint64_t start, uint64_t end, uint32_t depth)
    : start_(start), end_(end), depth_(depth) {
  KVD_ASSERT_MSG(depth <= kMaxDepth, "MerkleTree: depth too large");
  nodes_.assign((uint64_t{2} << depth) - 1, 0);
  // An empty tree's inner nodes are the combination of empty children, not 0: compute once.
  for (uint64_t b = 0; b < buckets(); ++b) dirty_.push_back(b);
  Refresh();
}

bool MerkleTree::Contains(uint64_t token) const {
  if (start_ == end_) return true;
  const uint64_t offset = token - start_;  // mod 2^64
  return offset >= 1 && offset <= end_ - start_;
}

uint64_t MerkleTree::BucketOf(uint64_t token) const {
  KVD_ASSERT(Contains(token));
  const U128 offset = U128{static_cast<uint64_t>(token - start_ - 1)};  // 0 .. width-1
  return static_cast<uint64_t>(offset * buckets() / Width(start_, end_));
}

MerkleTree::Span MerkleTree::BucketSpan(uint64_t bucket) const {
  // Bucket b holds the offsets o with floor(o * B / W) == b: ceil(b * W / B) ..
  // ceil((b + 1) * W / B) - 1.
  const U128 w = Width(start_, end_);
  const U128 b = buckets();
  auto first_offset = [&](U128 i) { return (i * w + b - 1) / b; };
  const U128 lo = first_offset(bucket);
  const U128 hi = first_offset(U128{bucket} + 1) - 1;
  return Span{static_cast<uint64_t>(start_ + 1 + static_cast<uint64_t>(lo)),
              static_cast<uint64_t>(start_ + 1 + static_cast<uint64_t>(hi))};
}

void MerkleTree::Toggle(uint64_t token, uint64_t digest) {
  const uint64_t bucket = BucketOf(token);
  nodes_[buckets() - 1 + bucket] ^= digest;
  dirty_.push_back(bucket);
}

void MerkleTree::Refresh() {
  if (dirty_.empty()) return;
  // Heap indices of the dirty buckets, then their parents level by level.
  std::vector<uint64_t> level;
  level.reserve(dirty_.size());
  for (uint64_t b : dirty_) level.push_back(buckets() - 1 + b);
  dirty_.clear();
  while (!(level.size() == 1 && level.front() == 0)) {
    std::vector<uint64_t> parents;
    parents.reserve(level.size());
    for (uint64_t i : level) {
      if (i != 0) parents.push_back((i - 1) / 2);
    }
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    for (uint64_t p : parents) nodes_[p] = Combine(nodes_[2 * p + 1], nodes_[2 * p + 2]);
    if (parents.empty()) break;  // depth 0: the root is the only bucket
    level = std::move(parents);
  }
}

uint64_t MerkleTree::Node(uint32_t level, uint64_t index) {
  KVD_ASSERT(level <= depth_ && index < (uint64_t{1} << level));
  Refresh();
  return nodes_[(uint64_t{1} << level) - 1 + index];
}

std::vector<uint64_t> MerkleTree::Level(uint32_t level) {
  KVD_ASSERT(level <= depth_);
  Refresh();
  const uint64_t first = (uint64_t{1} << level) - 1;
  return std::vector<uint64_t>(nodes_.begin() + static_cast<std::ptrdiff_t>(first),
                               nodes_.begin() + static_cast<std::ptrdiff_t>(2 * first + 1));
}

std::vector<uint64_t> MerkleTree::Diff(MerkleTree& other, uint64_t* hashes_compared) {
  KVD_ASSERT_MSG(other.start_ == start_ && other.end_ == end_ && other.depth_ == depth_,
                 "MerkleTree::Diff: trees of different ranges");
  uint64_t compared = 0;
  std::vector<uint64_t> frontier = {0};  // indices within the current level
  for (uint32_t level = 0;; ++level) {
    std::vector<uint64_t> differing;
    for (uint64_t i : frontier) {
      ++compared;
      if (Node(level, i) != other.Node(level, i)) differing.push_back(i);
    }
    if (level == depth_ || differing.empty()) {
      if (hashes_compared != nullptr) *hashes_compared = compared;
      return level == depth_ ? differing : std::vector<uint64_t>{};
    }
    frontier.clear();
    for (uint64_t i : differing) {
      frontier.push_back(2 * i);
      frontier.push_back(2 * i + 1);
    }
  }
}

}  // namespace kvd::topology::dynamo
