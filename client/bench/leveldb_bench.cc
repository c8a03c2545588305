// leveldb_bench: the in-process ceiling for kvd's storage: raw LevelDB puts and gets on
// one thread, with the same key and value shapes as kvbench, so that kvd's figures can be
// read as a fraction of what its engine can do without a network or a protocol.
//
//   leveldb_bench [--dir DIR] [--keys N] [--value-size B] [--batch K] [--sync] [--json]
//
// Phases: fill (N puts in batches of K), overwrite (N random puts in batches of K), and
// read (N random gets). Prints ops/s per phase.
#include <fmt/format.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

namespace {

struct Options {
  std::string dir;
  uint64_t keys = 100000;
  size_t value_size = 100;
  size_t batch = 16;
  bool sync = false;
  bool json = false;
};

std::string Key(uint64_t i) { return fmt::format("key:{:012}", i); }

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") o->dir = next();
    else if (a == "--keys") o->keys = std::stoull(next());
    else if (a == "--value-size") o->value_size = std::stoul(next());
    else if (a == "--batch") o->batch = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--sync") o->sync = true;
    else if (a == "--json") o->json = true;
    else {
      fmt::print(stderr,
                 "usage: leveldb_bench [--dir DIR] [--keys N] [--value-size B] [--batch K] "
                 "[--sync] [--json]\n");
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, &o)) return 2;
  bool temp = o.dir.empty();
  if (temp) {
    o.dir = (std::filesystem::temp_directory_path() /
             fmt::format("leveldb-bench-{}", std::random_device{}()))
                .string();
  }
  // The same engine settings kvd uses by default (server/storage/leveldb_engine.cc).
  std::unique_ptr<leveldb::Cache> cache(leveldb::NewLRUCache(64 << 20));
  std::unique_ptr<const leveldb::FilterPolicy> filter(leveldb::NewBloomFilterPolicy(10));
  leveldb::Options lo;
  lo.create_if_missing = true;
  lo.block_cache = cache.get();
  lo.filter_policy = filter.get();
  lo.write_buffer_size = 16 << 20;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(lo, o.dir, &raw);
  if (!s.ok()) {
    fmt::print(stderr, "leveldb_bench: open {}: {}\n", o.dir, s.ToString());
    return 1;
  }
  std::unique_ptr<leveldb::DB> db(raw);
  std::mt19937_64 rng(42);
  std::string value(o.value_size, 'v');
  for (char& c : value) c = static_cast<char>('a' + rng() % 26);
  leveldb::WriteOptions wo;
  wo.sync = o.sync;

  auto write_phase = [&](bool random) {
    auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < o.keys;) {
      leveldb::WriteBatch batch;
      for (size_t j = 0; j < o.batch && i < o.keys; ++j, ++i) {
        value[i % o.value_size] = static_cast<char>('a' + rng() % 26);
        batch.Put(Key(random ? rng() % o.keys : i), value);
      }
      s = db->Write(wo, &batch);
      if (!s.ok()) {
        fmt::print(stderr, "leveldb_bench: write: {}\n", s.ToString());
        std::exit(1);
      }
    }
    return static_cast<double>(o.keys) / Seconds(start);
  };
  double fill = write_phase(false);
  double overwrite = write_phase(true);
  auto start = std::chrono::steady_clock::now();
  std::string out;
  uint64_t found = 0;
  for (uint64_t i = 0; i < o.keys; ++i) {
    if (db->Get(leveldb::ReadOptions(), Key(rng() % o.keys), &out).ok()) ++found;
  }
  double read = static_cast<double>(o.keys) / Seconds(start);
  db.reset();
  if (temp) std::filesystem::remove_all(o.dir);
  if (found != o.keys) {
    fmt::print(stderr, "leveldb_bench: {} of {} reads missed\n", o.keys - found, o.keys);
    return 1;
  }
  if (o.json) {
    fmt::print("{{\"keys\": {}, \"value_size\": {}, \"batch\": {}, \"sync\": {}, "
               "\"fill_ops_per_s\": {:.0f}, \"overwrite_ops_per_s\": {:.0f}, "
               "\"read_ops_per_s\": {:.0f}}}\n",
               o.keys, o.value_size, o.batch, o.sync, fill, overwrite, read);
  } else {
    fmt::print("leveldb_bench: {} keys, {}-byte values, batches of {}, sync {}\n", o.keys,
               o.value_size, o.batch, o.sync ? "on" : "off");
    fmt::print("  fill       {:>12.0f} puts/s\n  overwrite  {:>12.0f} puts/s\n"
               "  read       {:>12.0f} gets/s\n",
               fill, overwrite, read);
  }
  return 0;
}
