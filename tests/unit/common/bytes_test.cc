// Unit tests for common/bytes.h: ByteWriter, ByteReader, the raw big-endian helpers and the
// hex helpers.
//
// Goal: these are the bottom layer of the wire protocol and of on-disk records, so every
// integer must be written big-endian at its exact width, and the reader must never read
// past its input whatever lengths the bytes claim. Method: compare writer output with
// hand-written byte strings (including values with the high bit set, where sign
// extension bugs hide), read back boundary values, then feed the reader inputs that are
// one byte too short for every accessor and lengths that exceed the input or the caller's
// maximum, checking that it fails, stays failed and never moves past the end. The hex
// helpers are checked on all 256 byte values and on malformed input. A failure means a
// wire or disk format change, or an out-of-bounds read on untrusted input.
#include "common/bytes.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>

namespace kvd {
namespace {

using namespace std::string_literals;

std::string AllByteValues() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST_CASE("common: ByteWriter writes fixed-width big-endian integers", "[unit][common]") {
  std::string out;
  ByteWriter w(&out);
  w.U8(0xab);
  w.U16(0x0102);
  w.U32(0x03040506);
  w.U64(0x0708090a0b0c0d0eull);
  CHECK(ToHex(out) == "ab" "0102" "03040506" "0708090a0b0c0d0e");
  CHECK(w.size() == 15);
  CHECK(w.out() == &out);
}

TEST_CASE("common: ByteWriter handles the high bit and extremes", "[unit][common]") {
  std::string out;
  ByteWriter w(&out);
  w.U8(0xff);
  w.U16(0xff80);
  w.U32(0x80000001u);
  w.U64(std::numeric_limits<uint64_t>::max());
  w.U64(0);
  CHECK(ToHex(out) == "ff" "ff80" "80000001" "ffffffffffffffff" "0000000000000000");
}

TEST_CASE("common: ByteWriter Bytes is a u32 length then the raw bytes", "[unit][common]") {
  std::string out;
  ByteWriter w(&out);
  w.Bytes("");
  w.Bytes("a\0\xff"s);
  w.Raw("zz");
  CHECK(ToHex(out) == "00000000" "00000003" "6100ff" "7a7a");
}

TEST_CASE("common: ByteWriter appends to existing content", "[unit][common]") {
  std::string out = "xy";
  ByteWriter w(&out);
  w.U16(1);
  CHECK(out == "xy\x00\x01"s);
  CHECK(w.size() == 4);
}

TEST_CASE("common: ByteReader reads back what ByteWriter wrote", "[unit][common]") {
  std::string buf;
  ByteWriter w(&buf);
  w.U8(0);
  w.U8(0xff);
  w.U16(0xffff);
  w.U32(0xffffffffu);
  w.U64(0x8000000000000000ull);
  w.Bytes(AllByteValues());
  w.Bytes("");
  w.Raw("tail");

  ByteReader r(buf);
  uint8_t a = 1, b = 0;
  uint16_t c = 0;
  uint32_t d = 0;
  uint64_t e = 0;
  std::string_view all, empty, tail;
  REQUIRE(r.U8(&a));
  REQUIRE(r.U8(&b));
  REQUIRE(r.U16(&c));
  REQUIRE(r.U32(&d));
  REQUIRE(r.U64(&e));
  REQUIRE(r.Bytes(&all));
  REQUIRE(r.Bytes(&empty));
  CHECK_FALSE(r.done());
  REQUIRE(r.Raw(4, &tail));
  CHECK(a == 0);
  CHECK(b == 0xff);
  CHECK(c == 0xffff);
  CHECK(d == 0xffffffffu);
  CHECK(e == 0x8000000000000000ull);
  CHECK(all == AllByteValues());
  CHECK(empty.empty());
  CHECK(tail == "tail");
  CHECK(r.done());
  CHECK(r.remaining() == 0);
  CHECK(r.position() == buf.size());
  CHECK_FALSE(r.failed());
}

TEST_CASE("common: ByteReader Bytes aliases the input buffer", "[unit][common]") {
  std::string buf = "\x00\x00\x00\x02hi"s;
  ByteReader r(buf);
  std::string_view v;
  REQUIRE(r.Bytes(&v));
  CHECK(v.data() == buf.data() + 4);
}

TEST_CASE("common: every ByteReader accessor fails one byte short", "[unit][common]") {
  const std::string full(8, '\x11');
  struct Case {
    const char* name;
    size_t width;
  };
  for (Case c : {Case{"u8", 1}, Case{"u16", 2}, Case{"u32", 4}, Case{"u64", 8}}) {
    INFO(c.name);
    ByteReader r(std::string_view(full).substr(0, c.width - 1));
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    bool ok = c.width == 1   ? r.U8(&v8)
              : c.width == 2 ? r.U16(&v16)
              : c.width == 4 ? r.U32(&v32)
                             : r.U64(&v64);
    CHECK_FALSE(ok);
    CHECK(r.failed());
    CHECK(r.remaining() == 0);
    CHECK(r.position() == 0);  // nothing consumed
    CHECK_FALSE(r.done());
    // Outputs are left untouched on failure.
    CHECK(v8 == 0);
    CHECK(v16 == 0);
    CHECK(v32 == 0);
    CHECK(v64 == 0);
  }
}

TEST_CASE("common: a failed ByteReader stays failed", "[unit][common]") {
  std::string buf = "\x01\x02\x03"s;
  ByteReader r(buf);
  uint32_t v32 = 0;
  CHECK_FALSE(r.U32(&v32));  // 3 bytes left, 4 needed
  uint8_t v8 = 0;
  CHECK_FALSE(r.U8(&v8));  // would fit, but the reader has failed
  std::string_view v;
  CHECK_FALSE(r.Raw(0, &v));
  CHECK(r.failed());
  CHECK_FALSE(r.done());
  CHECK(r.remaining() == 0);
}

TEST_CASE("common: ByteReader Bytes rejects lengths beyond the input or the maximum",
          "[unit][common]") {
  SECTION("length larger than the rest of the input") {
    std::string buf = "\x00\x00\x00\x05" "abcd"s;
    ByteReader r(buf);
    std::string_view v;
    CHECK_FALSE(r.Bytes(&v));
    CHECK(r.failed());
  }
  SECTION("a 4 GiB length on a tiny input fails without reading") {
    std::string buf = "\xff\xff\xff\xff" "x"s;
    ByteReader r(buf);
    std::string_view v;
    CHECK_FALSE(r.Bytes(&v));
    CHECK(r.failed());
  }
  SECTION("length above max_len, even though the bytes are there") {
    std::string buf = "\x00\x00\x00\x03" "abc"s;
    ByteReader r(buf);
    std::string_view v;
    CHECK_FALSE(r.Bytes(&v, 2));
    CHECK(r.failed());
  }
  SECTION("length exactly max_len is accepted") {
    std::string buf = "\x00\x00\x00\x03" "abc"s;
    ByteReader r(buf);
    std::string_view v;
    CHECK(r.Bytes(&v, 3));
    CHECK(v == "abc");
    CHECK(r.done());
  }
  SECTION("a truncated length prefix") {
    std::string buf = "\x00\x00\x00"s;
    ByteReader r(buf);
    std::string_view v;
    CHECK_FALSE(r.Bytes(&v));
  }
}

TEST_CASE("common: ByteReader Raw bounds", "[unit][common]") {
  ByteReader empty("");
  std::string_view v;
  CHECK(empty.Raw(0, &v));
  CHECK(v.empty());
  CHECK(empty.done());

  std::string buf = "abc";
  ByteReader r(buf);
  CHECK_FALSE(r.Raw(4, &v));
  CHECK(r.failed());

  ByteReader r2(buf);
  CHECK(r2.Raw(3, &v));
  CHECK(v == "abc");
  CHECK(r2.done());

  ByteReader r3(buf);
  CHECK_FALSE(r3.Raw(std::numeric_limits<size_t>::max(), &v));  // no overflow in the check
}

TEST_CASE("common: raw big-endian helpers", "[unit][common]") {
  char b[8] = {};
  PutU32BE(b, 0x80ff0001u);
  CHECK(ToHex(std::string_view(b, 4)) == "80ff0001");
  CHECK(GetU32BE(b) == 0x80ff0001u);

  PutU64BE(b, 0xfedcba9876543210ull);
  CHECK(ToHex(std::string_view(b, 8)) == "fedcba9876543210");
  CHECK(GetU64BE(b) == 0xfedcba9876543210ull);

  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0xff}, uint64_t{0x80000000},
                     uint64_t{0xffffffff}, uint64_t{0x100000000},
                     std::numeric_limits<uint64_t>::max()}) {
    PutU64BE(b, v);
    CHECK(GetU64BE(b) == v);
  }
}

TEST_CASE("common: ToHex is lower case, two digits per byte", "[unit][common]") {
  CHECK(ToHex("").empty());
  CHECK(ToHex("\x00\x0a\xff"s) == "000aff");
  std::string hex = ToHex(AllByteValues());
  REQUIRE(hex.size() == 512);
  CHECK(hex.substr(0, 6) == "000102");
  CHECK(hex.substr(506) == "fdfeff");
}

TEST_CASE("common: FromHex inverts ToHex and rejects bad input", "[unit][common]") {
  std::string out;
  REQUIRE(FromHex(ToHex(AllByteValues()), &out));
  CHECK(out == AllByteValues());

  REQUIRE(FromHex("00AbfF", &out));
  CHECK(out == "\x00\xab\xff"s);

  out = "previous";
  REQUIRE(FromHex("", &out));
  CHECK(out.empty());

  CHECK_FALSE(FromHex("abc", &out));  // odd length
  CHECK_FALSE(FromHex("0g", &out));   // not a hex digit
  CHECK_FALSE(FromHex("g0", &out));
  CHECK_FALSE(FromHex("0 ", &out));   // whitespace is not stripped
  CHECK_FALSE(FromHex("0x", &out));
}

}  // namespace
}  // namespace kvd
