// Workloads for kvbench: the YCSB core workloads and their key distributions.
//
//   A  50% read, 50% update                    zipfian
//   B  95% read,  5% update                    zipfian
//   C  100% read                               zipfian
//   D  95% read,  5% insert                    latest (reads favour recent inserts)
//   F  50% read, 50% read-modify-write         zipfian
//   W  100% update (write-only)                uniform
// The distribution can be overridden (--distribution). Keys are "key:" + 12 digits, so
// every key has the same length whichever server is measured.
//
// Generators are deterministic for a seed (std::mt19937_64), one per connection.
//
// Thread-safety: a KeyChooser / OpChooser is used by one thread. The insert counter shared
// by workload D is atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace kvd::bench {

enum class OpType { kRead, kUpdate, kInsert, kReadModifyWrite };
inline constexpr size_t kOpTypes = 4;
const char* OpTypeName(OpType t);

enum class Distribution { kUniform, kZipfian, kLatest };
const char* DistributionName(Distribution d);

struct WorkloadSpec {
  char name = 'A';
  double read = 0.5;
  double update = 0.5;
  double insert = 0;
  double read_modify_write = 0;
  Distribution distribution = Distribution::kZipfian;
};

// Returns false for an unknown workload letter.
bool LookupWorkload(char name, WorkloadSpec* spec);
bool ParseDistribution(std::string_view text, Distribution* out);

std::string KeyName(uint64_t index);

// YCSB's zipfian generator (Gray et al., "Quickly generating billion-record synthetic
// databases"), over [0, n), theta 0.99. Computing zeta(n) is O(n) once.
class Zipfian {
 public:
  explicit Zipfian(uint64_t n, double theta = 0.99);
  uint64_t Next(std::mt19937_64& rng) const;
  uint64_t n() const { return n_; }

 private:
  uint64_t n_;
  double theta_, alpha_, zetan_, eta_, half_pow_theta_;
};

// Chooses keys for one connection.
class KeyChooser {
 public:
  // `inserted` counts keys that exist (load + inserts); shared by all connections.
  KeyChooser(Distribution d, const Zipfian* zipf, std::atomic<uint64_t>* inserted,
             uint64_t seed);
  uint64_t NextExisting();
  // Claims a new key index (workload D).
  uint64_t NextInsert();
  std::mt19937_64& rng() { return rng_; }

 private:
  Distribution distribution_;
  const Zipfian* zipf_;
  std::atomic<uint64_t>* inserted_;
  std::mt19937_64 rng_;
};

OpType ChooseOp(const WorkloadSpec& spec, std::mt19937_64& rng);

// A fixed buffer of random printable bytes; Value(rng) returns a slice of value_size.
class ValueSource {
 public:
  ValueSource(size_t value_size, uint64_t seed);
  std::string_view Next(std::mt19937_64& rng) const;

 private:
  size_t value_size_;
  std::string buffer_;
};

}  // namespace kvd::bench
