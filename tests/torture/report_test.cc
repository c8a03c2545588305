// Unit tests for tests/torture/report.h: the kvd-torture report.
//
// Goal: the report says what the run did, in files a person and a program can both read.
// (1) passed() fails a run exactly when a verdict is not valid and not allowed. (2) ToJson
// keeps every field. (3) latency.png is a well-formed PNG that any decoder accepts, and it
// shows what it claims: each op's point in its outcome's colour where the axes put it, a
// fault's band over its time span, white elsewhere. (4) The HTML page is self-contained
// and escapes every text. (5) WriteReport writes the three files or names what it could
// not write. Method: the PNG is read back by a decoder written here, independently of the
// encoder: chunk parsing with a bitwise CRC-32, a small inflate (stored and fixed-Huffman
// blocks only, the way puff.c does it; anything else fails the test), Adler-32, and the
// five scanline filters. The frame of the plot is found from the image (its long black
// lines), and the expected pixel of an op or a fault is computed from the documented
// scales: time 0..duration on x, log10 of the latency from 0.1 ms to the next power of ten
// above the slowest op on y. A failure means a report that a browser or image viewer
// rejects, or a plot that misplaces or miscolours what happened in the run.
#include "tests/torture/report.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kvd::torture {
namespace {

// ---------------------------------------------------------------------------------------
// An independent PNG reader.

uint32_t Be32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s.at(at + i));
  return v;
}

// Bit by bit, without a table (the encoder uses one).
uint32_t BitwiseCrc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFU;
  for (char ch : bytes) {
    crc ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

// Byte by byte, reducing every step (the encoder defers the modulo).
uint32_t SimpleAdler32(std::string_view bytes) {
  uint32_t a = 1;
  uint32_t b = 0;
  for (char ch : bytes) {
    a = (a + static_cast<uint8_t>(ch)) % 65521U;
    b = (b + a) % 65521U;
  }
  return (b << 16) | a;
}

// RFC 1951 inflate for stored and fixed-Huffman blocks, after Mark Adler's puff.c.
// Throws std::runtime_error on anything else or on malformed input.
class Inflater {
 public:
  explicit Inflater(std::string_view in) : in_(in) {}

  std::string Run() {
    bool last = false;
    while (!last) {
      last = Bits(1) == 1;
      const uint32_t type = Bits(2);
      if (type == 0) {
        Stored();
      } else if (type == 1) {
        Fixed();
      } else {
        throw std::runtime_error("block type " + std::to_string(type) + " not expected");
      }
    }
    return std::move(out_);
  }

  // Bytes consumed, counting a partly used last byte.
  size_t consumed() const { return position_; }

 private:
  struct Huffman {
    std::array<int, 16> count{};
    std::vector<int> symbol;
  };

  uint32_t Bits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (bit_count_ == 0) {
        if (position_ >= in_.size()) throw std::runtime_error("input ends early");
        bit_buffer_ = static_cast<uint8_t>(in_[position_++]);
        bit_count_ = 8;
      }
      v |= (bit_buffer_ & 1U) << i;
      bit_buffer_ >>= 1;
      --bit_count_;
    }
    return v;
  }

  void Stored() {
    bit_count_ = 0;  // skip to a byte boundary
    const uint32_t length = Bits(16);
    const uint32_t complement = Bits(16);
    if ((length ^ 0xFFFFU) != complement) throw std::runtime_error("stored LEN/NLEN mismatch");
    for (uint32_t i = 0; i < length; ++i) out_.push_back(static_cast<char>(Bits(8)));
  }

  static Huffman Build(const std::vector<int>& lengths) {
    Huffman h;
    for (int length : lengths) ++h.count[static_cast<size_t>(length)];
    std::array<int, 16> offsets{};  // first index in `symbol` of each code length
    for (size_t len = 1; len < 15; ++len) offsets[len + 1] = offsets[len] + h.count[len];
    h.symbol.assign(lengths.size(), 0);
    for (size_t s = 0; s < lengths.size(); ++s) {
      const auto len = static_cast<size_t>(lengths[s]);
      if (len != 0) h.symbol[static_cast<size_t>(offsets[len]++)] = static_cast<int>(s);
    }
    return h;
  }

  int Decode(const Huffman& h) {
    int code = 0;
    int first = 0;
    int index = 0;
    for (size_t len = 1; len < 16; ++len) {
      code |= static_cast<int>(Bits(1));
      const int count = h.count[len];
      if (code - count < first) return h.symbol[static_cast<size_t>(index + (code - first))];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw std::runtime_error("no such Huffman code");
  }

  void Fixed() {
    std::vector<int> lengths(288, 8);
    for (size_t s = 144; s < 256; ++s) lengths[s] = 9;
    for (size_t s = 256; s < 280; ++s) lengths[s] = 7;
    const Huffman literal = Build(lengths);
    const Huffman distance = Build(std::vector<int>(30, 5));
    static constexpr std::array<int, 29> kBase = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                                  15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                                  67, 83, 99, 115, 131, 163, 195, 227, 258};
    static constexpr std::array<int, 29> kExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static constexpr std::array<int, 30> kDistanceBase = {
        1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
        193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static constexpr std::array<int, 30> kDistanceExtra = {0, 0, 0,  0,  1,  1,  2,  2,  3,  3,
                                                           4, 4, 5,  5,  6,  6,  7,  7,  8,  8,
                                                           9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
      const int symbol = Decode(literal);
      if (symbol < 256) {
        out_.push_back(static_cast<char>(symbol));
        continue;
      }
      if (symbol == 256) return;
      const auto l = static_cast<size_t>(symbol - 257);
      if (l >= kBase.size()) throw std::runtime_error("bad length symbol");
      const auto length = static_cast<size_t>(kBase[l]) + Bits(kExtra[l]);
      const auto d = static_cast<size_t>(Decode(distance));
      if (d >= kDistanceBase.size()) throw std::runtime_error("bad distance symbol");
      const auto dist = static_cast<size_t>(kDistanceBase[d]) + Bits(kDistanceExtra[d]);
      if (dist > out_.size()) throw std::runtime_error("distance too far back");
      for (size_t i = 0; i < length; ++i) out_.push_back(out_[out_.size() - dist]);
    }
  }

  std::string_view in_;
  size_t position_ = 0;
  uint32_t bit_buffer_ = 0;
  int bit_count_ = 0;
  std::string out_;
};

struct Chunk {
  std::string type;
  std::string data;
};

// Splits a PNG into chunks, checking the signature, every length and every CRC.
std::vector<Chunk> ReadChunks(std::string_view png) {
  REQUIRE(png.size() >= 8);
  REQUIRE(png.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8));
  std::vector<Chunk> chunks;
  size_t at = 8;
  while (at < png.size()) {
    REQUIRE(png.size() - at >= 12);
    const uint32_t length = Be32(png, at);
    REQUIRE(length <= png.size() - at - 12);
    Chunk chunk{std::string(png.substr(at + 4, 4)), std::string(png.substr(at + 8, length))};
    INFO("chunk " << chunk.type << " at " << at);
    CHECK(Be32(png, at + 8 + length) == BitwiseCrc32(png.substr(at + 4, 4 + length)));
    chunks.push_back(std::move(chunk));
    at += 12 + length;
  }
  REQUIRE(at == png.size());
  return chunks;
}

struct Rgb {
  int r = 0;
  int g = 0;
  int b = 0;
  bool operator==(const Rgb&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Rgb& c) {
  return os << "rgb(" << c.r << "," << c.g << "," << c.b << ")";
}

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kOkBlue{31, 119, 180};
constexpr Rgb kFailedRed{214, 39, 40};
constexpr Rgb kIndeterminateOrange{255, 127, 14};
constexpr Rgb kKillBand{255, 205, 205};
constexpr Rgb kPartitionBand{205, 220, 255};
constexpr Rgb kSkewLine{130, 60, 180};

struct Image {
  int width = 0;
  int height = 0;
  std::vector<Rgb> palette;
  std::vector<uint8_t> indices;  // width * height palette indices

  // Throws (and so fails the test) outside the image.
  Rgb At(int x, int y) const {
    if (x < 0 || y < 0 || x >= width || y >= height) {
      throw std::out_of_range("pixel " + std::to_string(x) + "," + std::to_string(y));
    }
    return palette.at(indices.at(static_cast<size_t>(y * width + x)));
  }

  size_t Count(Rgb color) const {
    size_t n = 0;
    for (uint8_t index : indices) n += palette.at(index) == color ? 1U : 0U;
    return n;
  }
};

uint8_t Paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  if (pb <= pc) return static_cast<uint8_t>(b);
  return static_cast<uint8_t>(c);
}

// Undoes the scanline filters (PNG §9) of an 8-bit, one-byte-per-pixel image.
std::vector<uint8_t> Unfilter(std::string_view raw, int width, int height) {
  const auto w = static_cast<size_t>(width);
  std::vector<uint8_t> pixels(w * static_cast<size_t>(height), 0);
  for (size_t y = 0; y < static_cast<size_t>(height); ++y) {
    const auto filter = static_cast<uint8_t>(raw[y * (w + 1)]);
    INFO("row " << y);
    REQUIRE(filter <= 4);
    for (size_t x = 0; x < w; ++x) {
      const int a = x > 0 ? pixels[y * w + x - 1] : 0;
      const int b = y > 0 ? pixels[(y - 1) * w + x] : 0;
      const int c = x > 0 && y > 0 ? pixels[(y - 1) * w + x - 1] : 0;
      const int predictor = filter == 0   ? 0
                            : filter == 1 ? a
                            : filter == 2 ? b
                            : filter == 3 ? (a + b) / 2
                                          : Paeth(a, b, c);
      pixels[y * w + x] =
          static_cast<uint8_t>(static_cast<uint8_t>(raw[y * (w + 1) + 1 + x]) + predictor);
    }
  }
  return pixels;
}

// Decodes a PNG the way report.cc promises to write it: 8-bit indexed colour.
Image DecodePng(std::string_view png) {
  const std::vector<Chunk> chunks = ReadChunks(png);
  REQUIRE(chunks.size() >= 4);
  REQUIRE(chunks.front().type == "IHDR");
  const std::string& ihdr = chunks.front().data;
  REQUIRE(ihdr.size() == 13);
  Image image;
  image.width = static_cast<int>(Be32(ihdr, 0));
  image.height = static_cast<int>(Be32(ihdr, 4));
  CHECK(image.width > 0);
  CHECK(image.height > 0);
  CHECK(ihdr[8] == 8);   // bit depth
  CHECK(ihdr[9] == 3);   // colour type: indexed
  CHECK(ihdr[10] == 0);  // compression: zlib
  CHECK(ihdr[11] == 0);  // filter method
  CHECK(ihdr[12] == 0);  // no interlace
  REQUIRE(chunks.back().type == "IEND");
  CHECK(chunks.back().data.empty());
  REQUIRE(chunks[1].type == "PLTE");
  const std::string& plte = chunks[1].data;
  REQUIRE(plte.size() % 3 == 0);
  REQUIRE(!plte.empty());
  REQUIRE(plte.size() <= 768);
  for (size_t i = 0; i < plte.size(); i += 3) {
    image.palette.push_back({static_cast<uint8_t>(plte[i]), static_cast<uint8_t>(plte[i + 1]),
                             static_cast<uint8_t>(plte[i + 2])});
  }
  // IDAT chunks must be consecutive; their data concatenated is one zlib stream.
  std::string zlib;
  size_t i = 2;
  for (; i < chunks.size() && chunks[i].type == "IDAT"; ++i) zlib += chunks[i].data;
  REQUIRE(i == chunks.size() - 1);
  REQUIRE(zlib.size() >= 6);
  const auto cmf = static_cast<uint8_t>(zlib[0]);
  const auto flg = static_cast<uint8_t>(zlib[1]);
  CHECK((cmf & 0x0FU) == 8);  // deflate
  CHECK((cmf >> 4) <= 7);     // window at most 32 KiB
  CHECK((cmf * 256U + flg) % 31U == 0);
  CHECK((flg & 0x20U) == 0);  // no preset dictionary
  Inflater inflater(std::string_view(zlib).substr(2, zlib.size() - 6));
  std::string raw;
  REQUIRE_NOTHROW(raw = inflater.Run());
  CHECK(inflater.consumed() == zlib.size() - 6);
  CHECK(Be32(zlib, zlib.size() - 4) == SimpleAdler32(raw));
  REQUIRE(raw.size() == static_cast<size_t>(image.height) * (1 + static_cast<size_t>(image.width)));
  image.indices = Unfilter(raw, image.width, image.height);
  CHECK(std::count_if(image.indices.begin(), image.indices.end(),
                      [&](uint8_t index) { return index >= image.palette.size(); }) == 0);
  return image;
}

// The plot's frame, found from the image: the first and last rows (columns) that hold a
// black run over half the image's width (height).
struct Frame {
  int left = -1;
  int right = -1;
  int top = -1;
  int bottom = -1;
};

int LongestRun(const Image& image, bool rows, int line) {
  int longest = 0;
  int run = 0;
  const int n = rows ? image.width : image.height;
  for (int i = 0; i < n; ++i) {
    const bool black = rows ? image.At(i, line) == kBlack : image.At(line, i) == kBlack;
    run = black ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest;
}

Frame FindFrame(const Image& image) {
  Frame f;
  for (int y = 0; y < image.height; ++y) {
    if (LongestRun(image, true, y) < image.width / 2) continue;
    if (f.top < 0) f.top = y;
    f.bottom = y;
  }
  for (int x = 0; x < image.width; ++x) {
    if (LongestRun(image, false, x) < image.height / 2) continue;
    if (f.left < 0) f.left = x;
    f.right = x;
  }
  REQUIRE(f.top >= 0);
  REQUIRE(f.left >= 0);
  REQUIRE(f.bottom - f.top > 50);
  REQUIRE(f.right - f.left > 200);
  return f;
}

// The documented scales (see the file comment).
int ExpectedX(const Frame& f, double t_s, double span_s) {
  return f.left + static_cast<int>(std::lround(t_s / span_s * (f.right - f.left)));
}
int ExpectedY(const Frame& f, double latency_ms, int exponent_low, int exponent_high) {
  const double v = (std::log10(latency_ms) - exponent_low) / (exponent_high - exponent_low);
  return f.bottom - static_cast<int>(std::lround(v * (f.bottom - f.top)));
}

std::string TestBase64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : bytes) {
    buffer = (buffer << 8) | static_cast<uint8_t>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3FU]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3FU]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

// ---------------------------------------------------------------------------------------
// Reports

GuaranteeVerdict Verdict(std::string verdict, bool allowed) {
  GuaranteeVerdict v;
  v.guarantee = "linearizable registers";
  v.verdict = std::move(verdict);
  v.allowed = allowed;
  return v;
}

// Three ops far apart, one per outcome; a kill span, a partition span and an instant skew.
// Duration 10 s; the slowest op is 300 ms, so y spans 0.1 ms .. 1000 ms (10^-1 .. 10^3).
Report SmallReport() {
  Report r;
  r.title = "kvd-torture: leader_follower (sync), seed 0x2a";
  r.topology = "leader_follower";
  r.mode = "sync";
  r.seed = 42;
  r.duration_s = 10;
  r.nodes = {"10.1.2.1:7001", "10.1.2.2:7001", "10.1.2.3:7001"};
  r.hosts = "netns";
  r.counts = {3, 1, 1};
  r.ops = {{2.0, 2.0, Outcome::kOk, "read"},
           {5.0, 40.0, Outcome::kFailed, "write"},
           {8.0, 300.0, Outcome::kIndeterminate, "cas"}};
  r.faults = {{3.0, 4.5, "kill", "node 2"},
              {6.0, 6.2, "partition", "{1,2} | {3}"},
              {7.0, 7.0, "skew", "node 3 +150ms"}};
  GuaranteeVerdict v = Verdict("invalid", false);
  v.detail = "read <x> saw a value never written & lost";
  v.anomalies = 1;
  v.minimal_history = {"0 invoke write x=1", "1 invoke read x", "1 ok read x=<2>"};
  r.verdicts = {Verdict("valid", false), v};
  r.extra = {{"note", "first run"}, {"clients", 4}};
  return r;
}

// 20k ops over 60 s: mostly fast reads and writes, a slow tail, timeouts at about 1 s
// (indeterminate) and some definite failures; a fault every few seconds.
Report BigReport() {
  Report r;
  r.title = "big";
  r.duration_s = 60;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> fast(std::log(1.5), 0.6);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < 20000; ++i) {
    OpPoint op;
    op.start_s = 60.0 * i / 20000;
    op.kind = i % 3 == 0 ? "write" : "read";
    const double u = unit(rng);
    if (u < 0.03) {
      op.outcome = Outcome::kIndeterminate;
      op.latency_ms = 1000 + 50 * unit(rng);
    } else if (u < 0.05) {
      op.outcome = Outcome::kFailed;
      op.latency_ms = fast(rng) * 3;
    } else {
      op.latency_ms = u < 0.1 ? fast(rng) * 40 : fast(rng);
    }
    r.ops.push_back(op);
  }
  const std::array<std::string, 6> kinds = {"kill",  "pause", "partition",
                                            "netem", "skew",  "membership"};
  for (int i = 0; i < 12; ++i) {
    const double start = 2 + 4.8 * i;
    const double end = i % 4 == 3 ? start : start + 2.5;
    r.faults.push_back({start, end, kinds[static_cast<size_t>(i) % kinds.size()], "node 1"});
  }
  return r;
}

std::filesystem::path UniqueTempDir(std::string_view what) {
  static int counter = 0;
  return std::filesystem::temp_directory_path() /
         ("kvd-report-test-" + std::to_string(::getpid()) + "-" + std::string(what) + "-" +
          std::to_string(++counter));
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------------------------------

TEST_CASE("report: OutcomeName names every outcome", "[unit][torture]") {
  CHECK(OutcomeName(Outcome::kOk) == "ok");
  CHECK(OutcomeName(Outcome::kFailed) == "failed");
  CHECK(OutcomeName(Outcome::kIndeterminate) == "indeterminate");
}

TEST_CASE("report: passed only when every verdict is valid or allowed", "[unit][torture]") {
  Report r;
  CHECK(r.passed());  // nothing checked, nothing failed
  r.verdicts = {Verdict("valid", false), Verdict("valid", false)};
  CHECK(r.passed());
  r.verdicts.push_back(Verdict("invalid", true));  // e.g. stale reads under async replication
  CHECK(r.passed());
  r.verdicts.push_back(Verdict("invalid", false));
  CHECK_FALSE(r.passed());
  r.verdicts.back() = Verdict("unknown", false);  // the checker gave up: not a pass
  CHECK_FALSE(r.passed());
  r.verdicts.back() = Verdict("unknown", true);
  CHECK(r.passed());
}

TEST_CASE("report: ToJson keeps every field", "[unit][torture]") {
  const Report r = SmallReport();
  const nlohmann::json j = nlohmann::json::parse(ToJson(r).dump());
  CHECK(j.at("title") == r.title);
  CHECK(j.at("topology") == "leader_follower");
  CHECK(j.at("mode") == "sync");
  CHECK(j.at("seed") == 42);
  CHECK(j.at("seed_hex") == "0x2a");
  CHECK(j.at("duration_s") == 10.0);
  CHECK(j.at("nodes") == nlohmann::json(r.nodes));
  CHECK(j.at("hosts") == "netns");
  CHECK(j.at("passed") == false);
  CHECK(j.at("counts") == nlohmann::json({{"ok", 3}, {"failed", 1}, {"indeterminate", 1}}));
  REQUIRE(j.at("verdicts").size() == 2);
  const nlohmann::json& v = j.at("verdicts")[1];
  CHECK(v.at("guarantee") == "linearizable registers");
  CHECK(v.at("verdict") == "invalid");
  CHECK(v.at("detail") == r.verdicts[1].detail);
  CHECK(v.at("allowed") == false);
  CHECK(v.at("anomalies") == 1);
  CHECK(v.at("minimal_history") == nlohmann::json(r.verdicts[1].minimal_history));
  REQUIRE(j.at("faults").size() == 3);
  CHECK(j.at("faults")[1] ==
        nlohmann::json(
            {{"start_s", 6.0}, {"end_s", 6.2}, {"kind", "partition"}, {"detail", "{1,2} | {3}"}}));
  CHECK(j.at("ops_fields") == nlohmann::json::array({"start_s", "latency_ms", "outcome", "kind"}));
  REQUIRE(j.at("ops").size() == 3);
  CHECK(j.at("ops")[0] == nlohmann::json::array({2.0, 2.0, "ok", "read"}));
  CHECK(j.at("ops")[2] == nlohmann::json::array({8.0, 300.0, "indeterminate", "cas"}));
  CHECK(j.at("extra") == r.extra);
}

TEST_CASE("report: ToJson keeps ops to the microsecond", "[unit][torture]") {
  Report r;
  r.ops = {{1.23456789, 0.123456789, Outcome::kOk, "read"}};
  const nlohmann::json op = ToJson(r).at("ops")[0];
  CHECK(op[0].get<double>() == Approx(1.234568).margin(1e-12));
  CHECK(op[1].get<double>() == Approx(0.123).margin(1e-12));
}

TEST_CASE("report: latency.png is a well-formed 8-bit palette PNG", "[unit][torture]") {
  const std::string png = RenderLatencyPng(SmallReport(), 1200, 420);
  const Image image = DecodePng(png);
  CHECK(image.width == 1200);
  CHECK(image.height == 420);
  // Other sizes too, including ones below the minimum (clamped, still a valid image).
  for (auto [w, h] : {std::pair{640, 240}, std::pair{333, 101}, std::pair{1, 1}}) {
    INFO(w << "x" << h);
    const Image small = DecodePng(RenderLatencyPng(SmallReport(), w, h));
    CHECK(small.width >= std::min(w, 16));
    CHECK(small.height >= std::min(h, 16));
  }
  const Image empty = DecodePng(RenderLatencyPng(Report{}));
  CHECK(empty.width == 1200);
  CHECK(empty.height == 420);
}

TEST_CASE("report: latency.png puts points and fault bands on the axes", "[unit][torture]") {
  const Report r = SmallReport();
  const Image image = DecodePng(RenderLatencyPng(r, 1200, 420));
  const Frame f = FindFrame(image);
  auto x = [&](double t_s) { return ExpectedX(f, t_s, 10.0); };
  auto y = [&](double latency_ms) { return ExpectedY(f, latency_ms, -1, 3); };

  SECTION("each op is a 3x3 point in its outcome's colour") {
    const std::array<Rgb, 3> colors = {kOkBlue, kFailedRed, kIndeterminateOrange};
    for (size_t i = 0; i < r.ops.size(); ++i) {
      const OpPoint& op = r.ops[i];
      INFO("op " << i << " at " << op.start_s << " s, " << op.latency_ms << " ms");
      for (int dx = -1; dx <= 1; ++dx) {
        for (int dy = -1; dy <= 1; ++dy) {
          CHECK(image.At(x(op.start_s) + dx, y(op.latency_ms) + dy) == colors[i]);
        }
      }
    }
  }
  SECTION("a fault span is a band of its kind's colour over the whole plot height") {
    for (int py = f.top + 1; py < f.bottom; ++py) {
      INFO("y " << py);
      CHECK(image.At(x(3.75), py) == kKillBand);  // grid lines lie behind bands
    }
    CHECK(image.At(x(3.75), y(3)) == kKillBand);
    CHECK(image.At(x(3.1), y(30)) == kKillBand);
    CHECK(image.At(x(4.4), y(0.3)) == kKillBand);
    CHECK(image.At(x(6.1), y(3)) == kPartitionBand);
    // Just outside the kill span: background.
    CHECK(image.At(x(2.9), y(3)) == kWhite);
    CHECK(image.At(x(4.6), y(3)) == kWhite);
  }
  SECTION("an instantaneous fault is a thin line") {
    const Rgb at = image.At(x(7.0), y(3));
    const Rgb next = image.At(x(7.0) + 1, y(3));
    CHECK((at == kSkewLine || next == kSkewLine));
    CHECK(image.At(x(7.0) - 2, y(3)) == kWhite);
    CHECK(image.At(x(7.0) + 3, y(3)) == kWhite);
  }
  SECTION("the background is white") {
    CHECK(image.At(x(6.5), y(30)) == kWhite);
    CHECK(image.At(x(0.5), y(0.3)) == kWhite);
    CHECK(image.At(x(9.5), y(500)) == kWhite);
  }
}

TEST_CASE("report: overlapping fault bands look translucent", "[unit][torture]") {
  Report r = SmallReport();
  r.faults = {{1.0, 3.0, "kill", "node 1"}, {2.0, 4.0, "partition", "{1} | {2,3}"}};
  const Image image = DecodePng(RenderLatencyPng(r, 1200, 420));
  const Frame f = FindFrame(image);
  const int py = ExpectedY(f, 3, -1, 3);
  CHECK(image.At(ExpectedX(f, 1.5, 10), py) == kKillBand);
  CHECK(image.At(ExpectedX(f, 3.5, 10), py) == kPartitionBand);
  const Rgb both = image.At(ExpectedX(f, 2.5, 10), py);
  CHECK(both != kKillBand);
  CHECK(both != kPartitionBand);
  CHECK(both.r <= std::min(kKillBand.r, kPartitionBand.r));
  CHECK(both.g <= std::min(kKillBand.g, kPartitionBand.g));
  CHECK(both.b <= std::min(kKillBand.b, kPartitionBand.b));
  CHECK(both.r + both.g + both.b > 3 * 150);  // still light
}

TEST_CASE("report: latency.png with 20k points stays small", "[unit][torture]") {
  const Report r = BigReport();
  const std::string png = RenderLatencyPng(r, 1200, 420);
  INFO("PNG bytes: " << png.size());
  CHECK(png.size() < 200 * 1024);
  const Image image = DecodePng(png);
  CHECK(image.width == 1200);
  CHECK(image.height == 420);
  // Every outcome and every fault kind shows.
  for (Rgb color : {kOkBlue, kFailedRed, kIndeterminateOrange, kKillBand, kPartitionBand}) {
    INFO(color);
    CHECK(image.Count(color) > 100);
  }
}

TEST_CASE("report: the HTML page is self-contained and escapes text", "[unit][torture]") {
  Report r = SmallReport();
  r.title = "run <1> & co";
  const std::string png = RenderLatencyPng(r);
  const std::string html = RenderHtml(r, png);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<title>run &lt;1&gt; &amp; co</title>") != std::string::npos);
  CHECK(html.find("read &lt;x&gt; saw a value never written &amp; lost") != std::string::npos);
  CHECK(html.find("<x>") == std::string::npos);
  CHECK(html.find("run <1>") == std::string::npos);
  // The minimal history of the invalid verdict, line by line, escaped, in a <pre>.
  CHECK(html.find("<pre>0 invoke write x=1\n1 invoke read x\n1 ok read x=&lt;2&gt;\n</pre>") !=
        std::string::npos);
  // The PNG, embedded; nothing loaded from elsewhere.
  CHECK(html.find("src=\"data:image/png;base64," + TestBase64(png) + "\"") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  // Run info, counts, verdicts and the fault table.
  CHECK(html.find("0x2a") != std::string::npos);
  CHECK(html.find("10.1.2.3:7001") != std::string::npos);
  CHECK(html.find("FAILED") != std::string::npos);
  CHECK(html.find("{1,2} | {3}") != std::string::npos);
  CHECK(html.find("node 3 +150ms") != std::string::npos);
  CHECK(html.find("<td class=\"invalid\">invalid</td>") != std::string::npos);
  CHECK(html.find("<td class=\"valid\">valid</td>") != std::string::npos);
  CHECK(html.find("first run") != std::string::npos);  // extra
}

TEST_CASE("report: the HTML fault lanes share the plot's time axis", "[unit][torture]") {
  const Report r = SmallReport();
  const std::string png = RenderLatencyPng(r);
  const std::string html = RenderHtml(r, png);
  const Frame f = FindFrame(DecodePng(png));
  // The lanes sit right under the image, as wide as it; a bar starts at its fault's x.
  CHECK(html.find("<div class=\"lanes\" style=\"width:1200px;") != std::string::npos);
  const size_t title = html.find("title=\"kill 3.000&#8211;4.500 s: node 2\"");
  REQUIRE(title != std::string::npos);
  const size_t bar = html.rfind("<div class=\"bar\" style=\"left:", title);
  REQUIRE(bar != std::string::npos);
  const int left =
      std::stoi(html.substr(bar + std::string_view("<div class=\"bar\" style=\"left:").size()));
  CHECK(left == ExpectedX(f, 3.0, 10.0));
  CHECK(html.find("title=\"skew at 7.000 s: node 3 +150ms\"") != std::string::npos);
}

TEST_CASE("report: WriteReport writes report.json, latency.png and report.html",
          "[unit][torture]") {
  const Report r = SmallReport();
  const std::filesystem::path base = UniqueTempDir("write");
  const std::filesystem::path dir = base / "nested" / "out";
  const Status s = WriteReport(r, dir);
  REQUIRE(s.ok());
  const std::string json = ReadAll(dir / "report.json");
  CHECK(nlohmann::json::parse(json) == ToJson(r));
  CHECK(json.rfind("{\n  \"title\": ", 0) == 0);  // the run's identity first
  CHECK(json.find("\n    [5.0,40.0,\"failed\",\"write\"],\n") != std::string::npos);  // op a line
  const std::string png = ReadAll(dir / "latency.png");
  CHECK(png == RenderLatencyPng(r));
  CHECK(ReadAll(dir / "report.html") == RenderHtml(r, png));
  // A second run into the same directory replaces the files.
  Report shorter = r;
  shorter.ops.clear();
  REQUIRE(WriteReport(shorter, dir).ok());
  CHECK(nlohmann::json::parse(ReadAll(dir / "report.json")).at("ops").empty());
  std::filesystem::remove_all(base);
}

TEST_CASE("report: WriteReport names what it cannot write", "[unit][torture]") {
  const std::filesystem::path base = UniqueTempDir("error");
  std::filesystem::create_directories(base);
  SECTION("the directory is under a regular file") {
    const std::filesystem::path file = base / "plain-file";
    std::ofstream(file) << "not a directory";
    const Status s = WriteReport(SmallReport(), file / "report");
    CHECK(s.code() == Code::kIOError);
    CHECK(s.message().find((file / "report").string()) != std::string::npos);
  }
  SECTION("a file's name is taken by a directory") {
    std::filesystem::create_directories(base / "latency.png");
    const Status s = WriteReport(SmallReport(), base);
    CHECK(s.code() == Code::kIOError);
    CHECK(s.message().find((base / "latency.png").string()) != std::string::npos);
  }
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace kvd::torture
