#include "client/bench/workload.h"

#include <fmt/format.h>

#include <cmath>

namespace kvd::bench {

const char* OpTypeName(OpType t) {
  switch (t) {
    case OpType::kRead: return "read";
    case OpType::kUpdate: return "update";
    case OpType::kInsert: return "insert";
    case OpType::kReadModifyWrite: return "rmw";
  }
  return "?";
}

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kUniform: return "uniform";
    case Distribution::kZipfian: return "zipfian";
    case Distribution::kLatest: return "latest";
  }
  return "?";
}

bool LookupWorkload(char name, WorkloadSpec* spec) {
  switch (name) {
    case 'A': *spec = {'A', 0.5, 0.5, 0, 0, Distribution::kZipfian}; return true;
    case 'B': *spec = {'B', 0.95, 0.05, 0, 0, Distribution::kZipfian}; return true;
    case 'C': *spec = {'C', 1.0, 0, 0, 0, Distribution::kZipfian}; return true;
    case 'D': *spec = {'D', 0.95, 0, 0.05, 0, Distribution::kLatest}; return true;
    case 'F': *spec = {'F', 0.5, 0, 0, 0.5, Distribution::kZipfian}; return true;
    case 'W': *spec = {'W', 0, 1.0, 0, 0, Distribution::kUniform}; return true;
    default: return false;
  }
}

bool ParseDistribution(std::string_view text, Distribution* out) {
  if (text == "uniform") *out = Distribution::kUniform;
  else if (text == "zipfian") *out = Distribution::kZipfian;
  else if (text == "latest") *out = Distribution::kLatest;
  else return false;
  return true;
}

std::string KeyName(uint64_t index) { return fmt::format("key:{:012}", index); }

namespace {
double Zeta(uint64_t n, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

// FNV-1a of the index, so that hot ranks are spread over the key space ("scrambled
// zipfian" in YCSB) instead of all being the lowest keys.
uint64_t Scramble(uint64_t v) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (i * 8)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  return h;
}
}  // namespace

Zipfian::Zipfian(uint64_t n, double theta) : n_(n), theta_(theta) {
  zetan_ = Zeta(n, theta);
  double zeta2 = Zeta(2, theta);
  alpha_ = 1.0 / (1.0 - theta);
  eta_ = (1 - std::pow(2.0 / static_cast<double>(n), 1 - theta)) / (1 - zeta2 / zetan_);
  half_pow_theta_ = 1 + std::pow(0.5, theta);
}

uint64_t Zipfian::Next(std::mt19937_64& rng) const {
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  double uz = u * zetan_;
  if (uz < 1.0) return 0;
  if (uz < half_pow_theta_) return 1;
  auto v = static_cast<uint64_t>(static_cast<double>(n_) *
                                 std::pow(eta_ * u - eta_ + 1, alpha_));
  return v < n_ ? v : n_ - 1;
}

KeyChooser::KeyChooser(Distribution d, const Zipfian* zipf, std::atomic<uint64_t>* inserted,
                       uint64_t seed)
    : distribution_(d), zipf_(zipf), inserted_(inserted), rng_(seed) {}

uint64_t KeyChooser::NextExisting() {
  uint64_t n = inserted_->load(std::memory_order_relaxed);
  if (n == 0) return 0;
  switch (distribution_) {
    case Distribution::kUniform:
      return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
    case Distribution::kZipfian:
      return Scramble(zipf_->Next(rng_)) % n;
    case Distribution::kLatest: {
      uint64_t back = zipf_->Next(rng_);
      return back < n ? n - 1 - back : 0;
    }
  }
  return 0;
}

uint64_t KeyChooser::NextInsert() { return inserted_->fetch_add(1, std::memory_order_relaxed); }

OpType ChooseOp(const WorkloadSpec& spec, std::mt19937_64& rng) {
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  if (u < spec.read) return OpType::kRead;
  u -= spec.read;
  if (u < spec.update) return OpType::kUpdate;
  u -= spec.update;
  if (u < spec.insert) return OpType::kInsert;
  return spec.read_modify_write > 0 ? OpType::kReadModifyWrite : OpType::kUpdate;
}

ValueSource::ValueSource(size_t value_size, uint64_t seed) : value_size_(value_size) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 rng(seed);
  buffer_.resize(value_size + (1u << 20));
  for (char& c : buffer_) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
}

std::string_view ValueSource::Next(std::mt19937_64& rng) const {
  size_t offset = rng() % (buffer_.size() - value_size_ + 1);
  return std::string_view(buffer_).substr(offset, value_size_);
}

}  // namespace kvd::bench
