// The kvd-torture report: JSON, a hand-made PNG latency plot and one HTML page.
//
// Why a PNG encoder by hand: the project takes no new dependencies (STYLE.md §7) and
// neither zlib nor libpng is on the build hosts. A plot is mostly flat background, so a
// zlib stream with one fixed-Huffman DEFLATE block (RFC 1951 §3.2.6) and a small LZ77
// matcher that tries the distances "one pixel back" and "one or two rows up" besides a
// short hash chain compresses it well enough: 20k points on 1200x420 stay far below
// 200 KB. The image is 8-bit indexed colour (PNG §11.2.2 PLTE) with filter 0 on every
// scanline; the palette grows as colours are first used.
//
// The plot's geometry (PlotGeometry) is shared with the HTML page, which draws the fault
// lanes under the image on the same pixel time axis.
#include "tests/torture/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <system_error>
#include <utility>

#include "common/assert.h"

namespace kvd::torture {

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kIndeterminate:
      return "indeterminate";
  }
  KVD_PANIC("unknown Outcome");
}

bool Report::passed() const {
  return std::all_of(verdicts.begin(), verdicts.end(),
                     [](const GuaranteeVerdict& v) { return v.verdict == "valid" || v.allowed; });
}

namespace {

// ---------------------------------------------------------------------------------------
// JSON

// Rounds to 1/scale: ops keep microseconds (start_s * 1e6, latency_ms * 1e3); finer digits
// are clock noise and would only make report.json longer.
double RoundTo(double value, double scale) {
  if (!std::isfinite(value)) return value;
  return std::round(value * scale) / scale;
}

nlohmann::json VerdictToJson(const GuaranteeVerdict& v) {
  return {{"guarantee", v.guarantee}, {"verdict", v.verdict},
          {"detail", v.detail},       {"allowed", v.allowed},
          {"anomalies", v.anomalies}, {"minimal_history", v.minimal_history}};
}

// Keys whose array values are written one element per line by FormatJson.
bool IsLongArrayKey(std::string_view key) {
  return key == "ops" || key == "faults" || key == "verdicts";
}

// report.json's layout: one top-level key per line, the run's identity first and the ops
// last; the long arrays one element per line (an op is one short line), everything else
// compact. Invalid UTF-8 in any string is replaced instead of throwing.
constexpr std::array<std::string_view, 15> kJsonKeyOrder = {
    "title",  "topology", "mode",     "seed",   "seed_hex", "duration_s", "hosts", "nodes",
    "passed", "counts",   "verdicts", "faults", "extra",    "ops_fields", "ops"};

std::string FormatJson(const nlohmann::json& j) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  std::vector<std::string> keys(kJsonKeyOrder.begin(), kJsonKeyOrder.end());
  for (const auto& [key, value] : j.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  std::string out = "{";
  for (const std::string& key : keys) {
    if (!j.contains(key)) continue;
    const nlohmann::json& value = j.at(key);
    out += out.size() == 1 ? "\n  " : ",\n  ";
    out += nlohmann::json(key).dump(-1, ' ', false, kReplace) + ": ";
    if (IsLongArrayKey(key) && value.is_array() && !value.empty()) {
      out += "[\n";
      for (size_t i = 0; i < value.size(); ++i) {
        out += "    " + value[i].dump(-1, ' ', false, kReplace);
        out += i + 1 < value.size() ? ",\n" : "\n";
      }
      out += "  ]";
    } else {
      out += value.dump(-1, ' ', false, kReplace);
    }
  }
  out += "\n}\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// Colours

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  bool operator==(const Rgb&) const = default;
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGridGrey{226, 226, 226};
constexpr Rgb kLabelGrey{80, 80, 80};
constexpr Rgb kOkBlue{31, 119, 180};
constexpr Rgb kFailedRed{214, 39, 40};
constexpr Rgb kIndeterminateOrange{255, 127, 14};

Rgb OutcomeColor(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return kOkBlue;
    case Outcome::kFailed:
      return kFailedRed;
    case Outcome::kIndeterminate:
      return kIndeterminateOrange;
  }
  KVD_PANIC("unknown Outcome");
}

// A fault kind's colours: `band` is the light colour of a span (as if the saturated `line`
// colour were laid over white at about 25% opacity); `line` marks instantaneous faults.
struct FaultStyle {
  std::string_view kind;
  Rgb band;
  Rgb line;
};
constexpr std::array<FaultStyle, 7> kFaultStyles = {{
    {"kill", {255, 205, 205}, {200, 40, 40}},
    {"pause", {255, 236, 170}, {190, 140, 0}},
    {"partition", {205, 220, 255}, {50, 90, 200}},
    {"netem", {215, 240, 200}, {60, 150, 40}},
    {"skew", {235, 215, 250}, {130, 60, 180}},
    {"membership", {200, 240, 240}, {0, 140, 140}},
    {"other", {228, 228, 228}, {110, 110, 110}},
}};
constexpr size_t kOtherFaultStyle = kFaultStyles.size() - 1;

size_t FaultStyleIndex(std::string_view kind) {
  for (size_t i = 0; i < kFaultStyles.size(); ++i) {
    if (kFaultStyles[i].kind == kind) return i;
  }
  return kOtherFaultStyle;
}

// Overlapping bands multiply, like stacked translucent films: white is neutral, and two
// kinds over one another give a darker mix of both.
Rgb Multiply(Rgb a, Rgb b) {
  auto channel = [](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>((static_cast<unsigned>(x) * y + 127U) / 255U);
  };
  return {channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

std::string CssColor(Rgb c) { return fmt::format("rgb({},{},{})", c.r, c.g, c.b); }

// ---------------------------------------------------------------------------------------
// Canvas: palette-indexed pixels; index 0 is white.

class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width),
        height_(height),
        pixels_(static_cast<size_t>(width) * static_cast<size_t>(height), 0) {
    palette_.push_back(kWhite);
  }

  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<Rgb>& palette() const { return palette_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }

  // The palette index of `color`, added if new. A PNG palette holds at most 256 colours;
  // past that the nearest one stands in (the plot uses far fewer).
  uint8_t Index(Rgb color) {
    for (size_t i = 0; i < palette_.size(); ++i) {
      if (palette_[i] == color) return static_cast<uint8_t>(i);
    }
    if (palette_.size() < kMaxPalette) {
      palette_.push_back(color);
      return static_cast<uint8_t>(palette_.size() - 1);
    }
    size_t best = 0;
    int best_distance = std::numeric_limits<int>::max();
    for (size_t i = 0; i < palette_.size(); ++i) {
      const int dr = palette_[i].r - color.r;
      const int dg = palette_[i].g - color.g;
      const int db = palette_[i].b - color.b;
      const int distance = dr * dr + dg * dg + db * db;
      if (distance < best_distance) {
        best_distance = distance;
        best = i;
      }
    }
    return static_cast<uint8_t>(best);
  }

  bool Contains(int x, int y) const { return x >= 0 && y >= 0 && x < width_ && y < height_; }

  void Set(int x, int y, uint8_t index) {
    if (Contains(x, y)) pixels_[Offset(x, y)] = index;
  }

  // REQUIRES: Contains(x, y).
  uint8_t Get(int x, int y) const {
    KVD_ASSERT(Contains(x, y));
    return pixels_[Offset(x, y)];
  }

  // Fills the rectangle with corners (x0, y0) and (x1, y1), both inclusive, clipped.
  void Fill(int x0, int y0, int x1, int y1, uint8_t index) {
    for (int y = std::max(0, y0); y <= std::min(height_ - 1, y1); ++y) {
      for (int x = std::max(0, x0); x <= std::min(width_ - 1, x1); ++x) {
        pixels_[Offset(x, y)] = index;
      }
    }
  }

 private:
  static constexpr size_t kMaxPalette = 256;

  size_t Offset(int x, int y) const {
    return static_cast<size_t>(y) * static_cast<size_t>(width_) + static_cast<size_t>(x);
  }

  int width_;
  int height_;
  std::vector<uint8_t> pixels_;
  std::vector<Rgb> palette_;
};

// ---------------------------------------------------------------------------------------
// A 5x7 bitmap font, drawn for this plot. Lower case has no real descenders (g, j, p, q,
// y sit on the baseline with their tails folded up); anything unknown is drawn as '?'.

struct Glyph {
  char c;
  std::array<std::string_view, 7> rows;
};

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;
constexpr int kGlyphAdvance = kGlyphWidth + 1;

// clang-format off
constexpr std::array<Glyph, 84> kFont = {{
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'I', {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"}},
    {'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".##.#", "#..##", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".###.", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", ".####", ".....", ".....", "....."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {'[', {".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###."}},
    {']', {".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###."}},
    {'{', {"...##", "..#..", "..#..", ".#...", "..#..", "..#..", "...##"}},
    {'}', {"##...", "..#..", "..#..", "...#.", "..#..", "..#..", "##..."}},
    {'<', {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."}},
    {'>', {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {'|', {"..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'#', {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."}},
    {'*', {".....", "#.#.#", ".###.", "#####", ".###.", "#.#.#", "....."}},
}};
// clang-format on

constexpr bool FontIsWellFormed() {
  for (size_t i = 0; i < kFont.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (kFont[i].c == kFont[j].c) return false;
    }
    for (std::string_view row : kFont[i].rows) {
      if (row.size() != kGlyphWidth) return false;
      for (char pixel : row) {
        if (pixel != '.' && pixel != '#') return false;
      }
    }
  }
  return true;
}
static_assert(FontIsWellFormed(), "every glyph is 5x7 of '.' and '#', each character once");

const Glyph& FindGlyph(char c) {
  for (const Glyph& glyph : kFont) {
    if (glyph.c == c) return glyph;
  }
  return kFont[1];  // '?'
}

int TextWidth(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<int>(text.size()) * kGlyphAdvance - 1;
}

// Draws `text` with its top-left corner at (x, y), clipped to the canvas.
void DrawText(Canvas& canvas, int x, int y, std::string_view text, uint8_t index) {
  for (char c : text) {
    const Glyph& glyph = FindGlyph(c);
    for (int row = 0; row < kGlyphHeight; ++row) {
      const std::string_view bits = glyph.rows[static_cast<size_t>(row)];
      for (int col = 0; col < kGlyphWidth; ++col) {
        if (bits[static_cast<size_t>(col)] == '#') canvas.Set(x + col, y + row, index);
      }
    }
    x += kGlyphAdvance;
  }
}

// ---------------------------------------------------------------------------------------
// Plot geometry, shared by the PNG and the HTML fault lanes.
//
// The frame's lines are at x = left and x = right, y = top and y = bottom. Time 0 maps to
// x = left and the time span's end to x = right; the y axis is log10 of the latency in ms,
// from 10^exponent_low (0.1 ms, or lower if an op was faster) at y = bottom to
// 10^exponent_high (the smallest power of ten at or above the slowest op, at least two
// decades above the bottom) at y = top.

constexpr int kMinImageSide = 16;
constexpr int kMaxImageSide = 8192;  // also keeps a row within DEFLATE's 32 KiB window
constexpr int kMinExponent = -3;     // 1 us
constexpr int kMaxExponent = 7;      // 10^7 ms, about 3 hours

struct PlotGeometry {
  int width = 0;
  int height = 0;
  int left = 0;
  int right = 0;
  int top = 0;
  int bottom = 0;
  double time_span_s = 1;
  int exponent_low = -1;
  int exponent_high = 1;

  int PixelX(double t_s) const {
    double v = std::isfinite(t_s) ? t_s / time_span_s : 0;
    v = std::clamp(v, 0.0, 1.0);
    return left + static_cast<int>(std::lround(v * (right - left)));
  }

  int PixelY(double latency_ms) const {
    const double low = std::pow(10.0, exponent_low);
    const double l = std::isfinite(latency_ms) && latency_ms > low ? latency_ms : low;
    double v = (std::log10(l) - exponent_low) / (exponent_high - exponent_low);
    v = std::clamp(v, 0.0, 1.0);
    return bottom - static_cast<int>(std::lround(v * (bottom - top)));
  }
};

double TimeSpan(const Report& report) {
  double span = std::isfinite(report.duration_s) ? report.duration_s : 0;
  for (const OpPoint& op : report.ops) {
    if (std::isfinite(op.start_s)) span = std::max(span, op.start_s);
  }
  for (const FaultSpan& fault : report.faults) {
    if (std::isfinite(fault.end_s)) span = std::max(span, fault.end_s);
    if (std::isfinite(fault.start_s)) span = std::max(span, fault.start_s);
  }
  return span > 0 ? span : 1;
}

PlotGeometry ComputeGeometry(const Report& report, int width, int height) {
  PlotGeometry g;
  g.width = std::clamp(width, kMinImageSide, kMaxImageSide);
  g.height = std::clamp(height, kMinImageSide, kMaxImageSide);
  // Room for the y tick labels on the left, the legend on top and the x tick labels and
  // axis title below; small images shrink the margins.
  g.left = std::min(64, g.width / 4);
  g.right = g.width - 1 - std::min(16, g.width / 8);
  g.top = std::min(24, g.height / 5);
  g.bottom = g.height - 1 - std::min(34, g.height / 4);
  g.time_span_s = TimeSpan(report);

  double low_ms = std::numeric_limits<double>::infinity();
  double high_ms = 0;
  for (const OpPoint& op : report.ops) {
    if (!std::isfinite(op.latency_ms) || op.latency_ms <= 0) continue;
    low_ms = std::min(low_ms, op.latency_ms);
    high_ms = std::max(high_ms, op.latency_ms);
  }
  g.exponent_low = -1;
  if (low_ms < 0.1) {
    g.exponent_low = std::max(kMinExponent, static_cast<int>(std::floor(std::log10(low_ms))));
  }
  g.exponent_high = g.exponent_low + 2;
  if (high_ms > 0) {
    const int needed = static_cast<int>(std::ceil(std::log10(high_ms) - 1e-9));
    g.exponent_high = std::clamp(needed, g.exponent_low + 2, kMaxExponent);
  }
  return g;
}

// The tick step on the time axis: 1, 2 or 5 times a power of ten, about one tick per
// 100 pixels.
double TimeTickStep(const PlotGeometry& g) {
  const int ticks = std::max(2, (g.right - g.left) / 100);
  const double raw = g.time_span_s / ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double multiple : {1.0, 2.0, 5.0}) {
    if (multiple * power >= raw) return multiple * power;
  }
  return 10 * power;
}

std::string FormatTick(double value) { return fmt::format("{:g}", value); }

// ---------------------------------------------------------------------------------------
// Drawing

// Bands first, so everything else lies on top. A band fills whole columns of the plot
// area; each column's colour is the product of the kinds over it (each kind counted once,
// so many faults of one kind do not darken to black).
void DrawFaultBands(Canvas& canvas, const PlotGeometry& g, const Report& report) {
  std::vector<uint8_t> kinds(static_cast<size_t>(g.right - g.left + 1), 0);
  static_assert(kFaultStyles.size() <= 8, "kind masks are 8 bits");
  for (const FaultSpan& fault : report.faults) {
    if (!(fault.end_s > fault.start_s)) continue;  // instantaneous: DrawInstantFaults
    const auto bit = static_cast<uint8_t>(1U << FaultStyleIndex(fault.kind));
    for (int x = g.PixelX(fault.start_s); x <= g.PixelX(fault.end_s); ++x) {
      kinds[static_cast<size_t>(x - g.left)] |= bit;
    }
  }
  for (int x = g.left; x <= g.right; ++x) {
    const uint8_t mask = kinds[static_cast<size_t>(x - g.left)];
    if (mask == 0) continue;
    Rgb color = kWhite;
    for (size_t i = 0; i < kFaultStyles.size(); ++i) {
      if ((mask >> i) & 1U) color = Multiply(color, kFaultStyles[i].band);
    }
    canvas.Fill(x, g.top, x, g.bottom, canvas.Index(color));
  }
}

// Grid lines only on white pixels: they read as lying behind the fault bands.
void DrawGrid(Canvas& canvas, const PlotGeometry& g) {
  const uint8_t grey = canvas.Index(kGridGrey);
  for (int e = g.exponent_low + 1; e < g.exponent_high; ++e) {
    const int y = g.PixelY(std::pow(10.0, e));
    for (int x = g.left; x <= g.right; ++x) {
      if (canvas.Get(x, y) == 0) canvas.Set(x, y, grey);
    }
  }
  const double step = TimeTickStep(g);
  for (int k = 1; k * step < g.time_span_s * (1 - 1e-9); ++k) {
    const int x = g.PixelX(k * step);
    for (int y = g.top; y <= g.bottom; ++y) {
      if (canvas.Get(x, y) == 0) canvas.Set(x, y, grey);
    }
  }
}

// Instantaneous faults: a 2-pixel line in the kind's strong colour.
void DrawInstantFaults(Canvas& canvas, const PlotGeometry& g, const Report& report) {
  for (const FaultSpan& fault : report.faults) {
    if (fault.end_s > fault.start_s) continue;
    const int x = g.PixelX(fault.start_s);
    const uint8_t index = canvas.Index(kFaultStyles[FaultStyleIndex(fault.kind)].line);
    canvas.Fill(x, g.top, std::min(x + 1, g.right), g.bottom, index);
  }
}

void DrawFrameAndTicks(Canvas& canvas, const PlotGeometry& g) {
  const uint8_t black = canvas.Index(kBlack);
  const uint8_t label = canvas.Index(kLabelGrey);
  canvas.Fill(g.left, g.top, g.right, g.top, black);
  canvas.Fill(g.left, g.bottom, g.right, g.bottom, black);
  canvas.Fill(g.left, g.top, g.left, g.bottom, black);
  canvas.Fill(g.right, g.top, g.right, g.bottom, black);
  // y: a labelled tick per power of ten, short ticks at 2..9 times it.
  for (int e = g.exponent_low; e <= g.exponent_high; ++e) {
    const double decade = std::pow(10.0, e);
    const int y = g.PixelY(decade);
    canvas.Fill(g.left - 4, y, g.left - 1, y, black);
    const std::string text = FormatTick(decade);
    DrawText(canvas, g.left - 7 - TextWidth(text), y - kGlyphHeight / 2, text, black);
    if (e == g.exponent_high) break;
    for (int m = 2; m <= 9; ++m) {
      const int minor_y = g.PixelY(m * decade);
      canvas.Fill(g.left - 2, minor_y, g.left - 1, minor_y, black);
    }
  }
  // x: about one labelled tick per 100 pixels.
  const double step = TimeTickStep(g);
  for (int k = 0; k * step <= g.time_span_s * (1 + 1e-9); ++k) {
    const int x = g.PixelX(k * step);
    canvas.Fill(x, g.bottom + 1, x, g.bottom + 4, black);
    const std::string text = FormatTick(k * step);
    DrawText(canvas, x - TextWidth(text) / 2, g.bottom + 7, text, black);
  }
  const std::string_view x_title = "time (s)";
  DrawText(canvas, (g.left + g.right - TextWidth(x_title)) / 2, g.bottom + 20, x_title, label);
}

// Points: ok first, failed last, so the rarer outcomes stay visible on top.
void DrawPoints(Canvas& canvas, const PlotGeometry& g, const Report& report) {
  for (Outcome outcome : {Outcome::kOk, Outcome::kIndeterminate, Outcome::kFailed}) {
    const uint8_t index = canvas.Index(OutcomeColor(outcome));
    for (const OpPoint& op : report.ops) {
      if (op.outcome != outcome || !std::isfinite(op.start_s)) continue;
      const int x = g.PixelX(op.start_s);
      const int y = g.PixelY(op.latency_ms);
      canvas.Fill(x - 1, y - 1, x + 1, y + 1, index);
    }
  }
}

// The y axis title at the top left; the legend right-aligned above the plot: the three
// outcomes, then the fault kinds that occur.
void DrawLegend(Canvas& canvas, const PlotGeometry& g, const Report& report) {
  const uint8_t black = canvas.Index(kBlack);
  const uint8_t label = canvas.Index(kLabelGrey);
  const std::string_view y_title = "latency (ms, log)";
  const int y = std::max(0, (g.top - kGlyphHeight) / 2 - 1);
  DrawText(canvas, 2, y, y_title, label);

  struct Item {
    std::string_view name;
    Rgb fill;
    Rgb outline;
  };
  std::vector<Item> items;
  for (Outcome o : {Outcome::kOk, Outcome::kFailed, Outcome::kIndeterminate}) {
    items.push_back({OutcomeName(o), OutcomeColor(o), OutcomeColor(o)});
  }
  for (size_t i = 0; i < kFaultStyles.size(); ++i) {
    const bool present =
        std::any_of(report.faults.begin(), report.faults.end(),
                    [&](const FaultSpan& f) { return FaultStyleIndex(f.kind) == i; });
    if (present)
      items.push_back({kFaultStyles[i].kind, kFaultStyles[i].band, kFaultStyles[i].line});
  }
  constexpr int kSwatch = 7;
  constexpr int kGap = 12;
  int total = 0;
  for (const Item& item : items) total += kSwatch + 3 + TextWidth(item.name) + kGap;
  int x = std::max(2 + TextWidth(y_title) + 2 * kGap, g.right - total + kGap);
  for (const Item& item : items) {
    canvas.Fill(x, y, x + kSwatch - 1, y + kSwatch - 1, canvas.Index(item.outline));
    canvas.Fill(x + 1, y + 1, x + kSwatch - 2, y + kSwatch - 2, canvas.Index(item.fill));
    x += kSwatch + 3;
    DrawText(canvas, x, y, item.name, black);
    x += TextWidth(item.name) + kGap;
  }
}

// ---------------------------------------------------------------------------------------
// zlib (RFC 1950) with one fixed-Huffman DEFLATE block (RFC 1951).

// CRC-32 as PNG §5.5 and ISO 3309 define it (reflected polynomial 0xEDB88320).
constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

uint32_t Crc32(std::string_view bytes) {
  uint32_t c = 0xFFFFFFFFU;
  for (char ch : bytes) c = kCrcTable[(c ^ static_cast<uint8_t>(ch)) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

uint32_t Adler32(std::string_view bytes) {
  constexpr uint32_t kBase = 65521;
  constexpr size_t kChunk = 5552;  // the most bytes before b can overflow 32 bits
  uint32_t a = 1;
  uint32_t b = 0;
  for (size_t i = 0; i < bytes.size(); i += kChunk) {
    const size_t end = std::min(bytes.size(), i + kChunk);
    for (size_t j = i; j < end; ++j) {
      a += static_cast<uint8_t>(bytes[j]);
      b += a;
    }
    a %= kBase;
    b %= kBase;
  }
  return (b << 16) | a;
}

class BitWriter {
 public:
  // Data fields: least significant bit first (RFC 1951 §3.1.1).
  void Put(uint32_t bits, int count) {
    buffer_ |= static_cast<uint64_t>(bits) << count_;
    count_ += count;
    while (count_ >= 8) {
      out_.push_back(static_cast<char>(buffer_ & 0xFFU));
      buffer_ >>= 8;
      count_ -= 8;
    }
  }
  // Huffman codes: most significant bit first.
  void PutCode(uint32_t code, int length) {
    uint32_t reversed = 0;
    for (int i = 0; i < length; ++i) reversed |= ((code >> i) & 1U) << (length - 1 - i);
    Put(reversed, length);
  }
  std::string Finish() {
    if (count_ > 0) out_.push_back(static_cast<char>(buffer_ & 0xFFU));
    buffer_ = 0;
    count_ = 0;
    return std::move(out_);
  }

 private:
  std::string out_;
  uint64_t buffer_ = 0;
  int count_ = 0;
};

// RFC 1951 §3.2.5: length codes 257..285 and distance codes 0..29.
constexpr std::array<uint16_t, 29> kLengthBase = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                                  15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                                  67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<uint8_t, 29> kLengthExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<uint16_t, 30> kDistanceBase = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<uint8_t, 30> kDistanceExtra = {0, 0, 0,  0,  1,  1,  2,  2,  3,  3,
                                                    4, 4, 5,  5,  6,  6,  7,  7,  8,  8,
                                                    9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// RFC 1951 §3.2.6: the fixed literal/length code.
void PutFixedSymbol(BitWriter& w, uint32_t symbol) {
  if (symbol < 144) {
    w.PutCode(0x30 + symbol, 8);
  } else if (symbol < 256) {
    w.PutCode(0x190 + symbol - 144, 9);
  } else if (symbol < 280) {
    w.PutCode(symbol - 256, 7);
  } else {
    w.PutCode(0xC0 + symbol - 280, 8);
  }
}

void PutMatch(BitWriter& w, size_t length, size_t distance) {
  size_t l = kLengthBase.size() - 1;
  while (kLengthBase[l] > length) --l;
  PutFixedSymbol(w, static_cast<uint32_t>(257 + l));
  w.Put(static_cast<uint32_t>(length - kLengthBase[l]), kLengthExtra[l]);
  size_t d = kDistanceBase.size() - 1;
  while (kDistanceBase[d] > distance) --d;
  w.PutCode(static_cast<uint32_t>(d), 5);
  w.Put(static_cast<uint32_t>(distance - kDistanceBase[d]), kDistanceExtra[d]);
}

constexpr size_t kMinMatch = 3;
constexpr size_t kMaxMatch = 258;
constexpr size_t kWindow = 32768;
constexpr size_t kHashBits = 15;
constexpr size_t kMaxChain = 16;
constexpr size_t kNoPosition = std::numeric_limits<size_t>::max();

size_t MatchLength(std::string_view data, size_t pos, size_t distance) {
  const size_t limit = std::min(kMaxMatch, data.size() - pos);
  size_t n = 0;
  while (n < limit && data[pos + n] == data[pos + n - distance]) ++n;
  return n;
}

size_t Hash3(std::string_view data, size_t pos) {
  const uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(data[pos])) |
                     static_cast<uint32_t>(static_cast<uint8_t>(data[pos + 1])) << 8 |
                     static_cast<uint32_t>(static_cast<uint8_t>(data[pos + 2])) << 16;
  return (v * 2654435761U) >> (32 - kHashBits);
}

// LZ77 over the scanlines: besides a short hash chain, always try one byte back (runs of
// one colour) and one and two rows back (`stride` = bytes per scanline), where a plot's
// rows repeat.
class Matcher {
 public:
  Matcher(std::string_view data, size_t stride)
      : data_(data),
        stride_(stride),
        head_(size_t{1} << kHashBits, kNoPosition),
        previous_(kWindow, kNoPosition) {}

  void Insert(size_t pos) {
    if (pos + kMinMatch > data_.size()) return;
    const size_t h = Hash3(data_, pos);
    previous_[pos % kWindow] = head_[h];
    head_[h] = pos;
  }

  // The longest match at `pos` as (length, distance); length 0 if none of kMinMatch.
  std::pair<size_t, size_t> Longest(size_t pos) const {
    size_t best_length = 0;
    size_t best_distance = 0;
    auto consider = [&](size_t distance) {
      if (distance == 0 || distance > pos || distance > kWindow) return;
      const size_t length = MatchLength(data_, pos, distance);
      if (length > best_length) {
        best_length = length;
        best_distance = distance;
      }
    };
    for (size_t distance : {size_t{1}, stride_, 2 * stride_}) consider(distance);
    if (pos + kMinMatch <= data_.size()) {
      size_t candidate = head_[Hash3(data_, pos)];
      for (size_t i = 0; i < kMaxChain && candidate != kNoPosition && best_length < kMaxMatch;
           ++i) {
        if (pos - candidate > kWindow) break;
        consider(pos - candidate);
        const size_t next = previous_[candidate % kWindow];
        if (next == kNoPosition || next >= candidate) break;
        candidate = next;
      }
    }
    if (best_length < kMinMatch) return {0, 0};
    return {best_length, best_distance};
  }

 private:
  std::string_view data_;
  size_t stride_;
  std::vector<size_t> head_;
  std::vector<size_t> previous_;
};

std::string DeflateFixed(std::string_view data, size_t stride) {
  BitWriter w;
  w.Put(1, 1);  // BFINAL: the only block
  w.Put(1, 2);  // BTYPE 01: fixed Huffman codes
  Matcher matcher(data, stride);
  size_t pos = 0;
  while (pos < data.size()) {
    const auto [length, distance] = matcher.Longest(pos);
    if (length == 0) {
      PutFixedSymbol(w, static_cast<uint8_t>(data[pos]));
      matcher.Insert(pos);
      ++pos;
      continue;
    }
    PutMatch(w, length, distance);
    for (size_t i = 0; i < length; ++i) matcher.Insert(pos + i);
    pos += length;
  }
  PutFixedSymbol(w, 256);  // end of block
  return w.Finish();
}

void AppendBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFFU));
}

std::string ZlibCompress(std::string_view data, size_t stride) {
  // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes CMF*256+FLG a multiple of 31.
  std::string out = "\x78\x01";
  out += DeflateFixed(data, stride);
  AppendBe32(out, Adler32(data));
  return out;
}

// ---------------------------------------------------------------------------------------
// PNG (ISO/IEC 15948): signature, IHDR, PLTE, IDAT..., IEND.

constexpr std::string_view kPngSignature{"\x89PNG\r\n\x1a\n", 8};
constexpr size_t kMaxIdatBytes = 65536;

void AppendChunk(std::string& png, std::string_view type, std::string_view data) {
  AppendBe32(png, static_cast<uint32_t>(data.size()));
  std::string body(type);
  body.append(data);
  png += body;
  AppendBe32(png, Crc32(body));
}

std::string EncodePng(const Canvas& canvas) {
  const auto width = static_cast<size_t>(canvas.width());
  const auto height = static_cast<size_t>(canvas.height());
  std::string scanlines;
  scanlines.reserve(height * (width + 1));
  for (size_t y = 0; y < height; ++y) {
    scanlines.push_back('\0');  // filter type 0 (None)
    for (size_t x = 0; x < width; ++x) {
      scanlines.push_back(static_cast<char>(canvas.pixels()[y * width + x]));
    }
  }
  std::string png(kPngSignature);
  std::string header;
  AppendBe32(header, static_cast<uint32_t>(width));
  AppendBe32(header, static_cast<uint32_t>(height));
  header += std::string_view("\x08\x03\x00\x00\x00", 5);  // 8 bits, indexed, no interlace
  AppendChunk(png, "IHDR", header);
  std::string palette;
  for (const Rgb& c : canvas.palette()) {
    palette.push_back(static_cast<char>(c.r));
    palette.push_back(static_cast<char>(c.g));
    palette.push_back(static_cast<char>(c.b));
  }
  AppendChunk(png, "PLTE", palette);
  const std::string compressed = ZlibCompress(scanlines, width + 1);
  for (size_t i = 0; i < compressed.size(); i += kMaxIdatBytes) {
    AppendChunk(png, "IDAT", std::string_view(compressed).substr(i, kMaxIdatBytes));
  }
  AppendChunk(png, "IEND", "");
  return png;
}

// ---------------------------------------------------------------------------------------
// HTML

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) {
      v = (v << 8) | (j < n ? static_cast<uint8_t>(bytes[i + j]) : 0U);
    }
    for (size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kAlphabet[(v >> (18 - 6 * j)) & 0x3FU] : '=');
    }
  }
  return out;
}

// The image size from a PNG's IHDR, or the defaults if `png` is not one.
std::pair<int, int> PngSize(std::string_view png) {
  if (png.size() < 24 || png.substr(0, 8) != kPngSignature || png.substr(12, 4) != "IHDR") {
    return {1200, 420};
  }
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(png[at + i]);
    return static_cast<int>(std::min<uint32_t>(v, kMaxImageSide));
  };
  return {be32(16), be32(20)};
}

std::string VerdictClass(std::string_view verdict) {
  if (verdict == "valid") return "valid";
  if (verdict == "invalid") return "invalid";
  return "unknown";
}

constexpr std::string_view kStyleSheet = R"(<style>
body{font-family:sans-serif;margin:20px;color:#222}
table{border-collapse:collapse;margin:6px 0 14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.valid{color:#1a7f37;font-weight:bold}
.invalid{color:#cf222e;font-weight:bold}
.unknown{color:#bc6c00;font-weight:bold}
.passed{color:#1a7f37;font-size:1.3em;font-weight:bold}
.failed{color:#cf222e;font-size:1.3em;font-weight:bold}
pre{background:#f6f8fa;border:1px solid #ddd;padding:8px;overflow:auto}
.lanes{position:relative;margin:0 0 10px}
.lane-name{position:absolute;left:0;font:10px sans-serif;text-align:right;overflow:hidden}
.bar{position:absolute;height:12px;box-sizing:border-box}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border:1px solid}
</style>
)";

void AppendRunInfo(std::string& out, const Report& report) {
  auto row = [&](std::string_view name, std::string_view value) {
    fmt::format_to(std::back_inserter(out), "<tr><th>{}</th><td>{}</td></tr>\n", name, value);
  };
  out += "<table>\n";
  row("topology", Escape(report.topology));
  row("mode", Escape(report.mode));
  row("seed", fmt::format("{:#x} ({})", report.seed, report.seed));
  row("duration", fmt::format("{:.3f} s", report.duration_s));
  row("hosts", Escape(report.hosts));
  std::string nodes;
  for (size_t i = 0; i < report.nodes.size(); ++i) {
    nodes += fmt::format("{}{}: {}", i == 0 ? "" : "<br>", i, Escape(report.nodes[i]));
  }
  row("nodes", nodes);
  out += "</table>\n";
}

void AppendCounts(std::string& out, const Report& report) {
  const Counts& c = report.counts;
  out +=
      "<h2>Counts</h2>\n<table>\n<tr><th>ok</th><th>failed</th><th>indeterminate</th>"
      "<th>total</th><th>ops plotted</th><th>faults</th></tr>\n";
  fmt::format_to(std::back_inserter(out),
                 "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                 "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                 "</tr>\n</table>\n",
                 c.ok, c.failed, c.indeterminate, c.ok + c.failed + c.indeterminate,
                 report.ops.size(), report.faults.size());
}

void AppendVerdicts(std::string& out, const Report& report) {
  out +=
      "<h2>Verdicts</h2>\n<table>\n<tr><th>guarantee</th><th>verdict</th>"
      "<th>anomalies</th><th>allowed</th><th>detail</th></tr>\n";
  for (const GuaranteeVerdict& v : report.verdicts) {
    fmt::format_to(std::back_inserter(out),
                   "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td>"
                   "<td>{}</td><td>{}</td></tr>\n",
                   Escape(v.guarantee), VerdictClass(v.verdict), Escape(v.verdict), v.anomalies,
                   v.allowed ? "yes" : "no", Escape(v.detail));
  }
  out += "</table>\n";
  for (const GuaranteeVerdict& v : report.verdicts) {
    if (v.verdict == "valid") continue;
    fmt::format_to(std::back_inserter(out),
                   "<h3>Minimal history: {} (<span class=\"{}\">{}</span>)</h3>\n",
                   Escape(v.guarantee), VerdictClass(v.verdict), Escape(v.verdict));
    if (v.minimal_history.empty()) {
      out += "<p>No minimal history was recorded.</p>\n";
      continue;
    }
    out += "<pre>";
    for (const std::string& line : v.minimal_history) out += Escape(line) + "\n";
    out += "</pre>\n";
  }
}

// One lane per fault kind under the image, on the plot's own pixel time axis, so a fault
// lines up with its band above; each bar's title names the fault.
void AppendFaultLanes(std::string& out, const Report& report, const PlotGeometry& g) {
  constexpr int kLaneHeight = 16;
  std::vector<size_t> lanes;
  for (size_t i = 0; i < kFaultStyles.size(); ++i) {
    if (std::any_of(report.faults.begin(), report.faults.end(),
                    [&](const FaultSpan& f) { return FaultStyleIndex(f.kind) == i; })) {
      lanes.push_back(i);
    }
  }
  if (lanes.empty()) return;
  fmt::format_to(std::back_inserter(out),
                 "<div class=\"lanes\" style=\"width:{}px;height:{}px\">\n", g.width,
                 static_cast<int>(lanes.size()) * kLaneHeight);
  for (size_t lane = 0; lane < lanes.size(); ++lane) {
    const FaultStyle& style = kFaultStyles[lanes[lane]];
    const int top = static_cast<int>(lane) * kLaneHeight;
    fmt::format_to(std::back_inserter(out),
                   "<div class=\"lane-name\" style=\"top:{}px;width:{}px\">{}</div>\n", top,
                   g.left - 6, Escape(style.kind));
    for (const FaultSpan& f : report.faults) {
      if (FaultStyleIndex(f.kind) != lanes[lane]) continue;
      const int x0 = g.PixelX(f.start_s);
      const bool instant = !(f.end_s > f.start_s);
      const int x1 = instant ? x0 : g.PixelX(f.end_s);
      const std::string when = instant ? fmt::format("at {:.3f} s", f.start_s)
                                       : fmt::format("{:.3f}&#8211;{:.3f} s", f.start_s, f.end_s);
      fmt::format_to(std::back_inserter(out),
                     "<div class=\"bar\" style=\"left:{}px;width:{}px;top:{}px;background:{};"
                     "border:1px solid {}\" title=\"{} {}: {}\"></div>\n",
                     x0, std::max(2, x1 - x0 + 1), top + 2, CssColor(style.band),
                     CssColor(style.line), Escape(f.kind), when, Escape(f.detail));
    }
  }
  out += "</div>\n";
}

void AppendFaultTable(std::string& out, const Report& report) {
  if (report.faults.empty()) {
    out += "<p>No faults were injected.</p>\n";
    return;
  }
  out += "<table>\n<tr><th>start (s)</th><th>end (s)</th><th>kind</th><th>detail</th></tr>\n";
  for (const FaultSpan& f : report.faults) {
    const FaultStyle& style = kFaultStyles[FaultStyleIndex(f.kind)];
    fmt::format_to(std::back_inserter(out),
                   "<tr><td class=\"num\">{:.3f}</td><td class=\"num\">{:.3f}</td><td><span "
                   "class=\"swatch\" style=\"background:{};border-color:{}\"></span>{}</td>"
                   "<td>{}</td></tr>\n",
                   f.start_s, f.end_s, CssColor(style.band), CssColor(style.line), Escape(f.kind),
                   Escape(f.detail));
  }
  out += "</table>\n";
}

Status WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    const std::error_code ec(errno, std::generic_category());
    return Status::IOError(
        fmt::format("cannot open {} for writing: {}", path.string(), ec.message()));
  }
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) {
    const std::error_code ec(errno, std::generic_category());
    return Status::IOError(fmt::format("cannot write {}: {}", path.string(), ec.message()));
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json ToJson(const Report& report) {
  nlohmann::json verdicts = nlohmann::json::array();
  for (const GuaranteeVerdict& v : report.verdicts) verdicts.push_back(VerdictToJson(v));
  nlohmann::json faults = nlohmann::json::array();
  for (const FaultSpan& f : report.faults) {
    faults.push_back(
        {{"start_s", f.start_s}, {"end_s", f.end_s}, {"kind", f.kind}, {"detail", f.detail}});
  }
  // Ops may be many thousands: each is a short array, its fields named once in ops_fields.
  nlohmann::json ops = nlohmann::json::array();
  for (const OpPoint& op : report.ops) {
    ops.push_back(
        {RoundTo(op.start_s, 1e6), RoundTo(op.latency_ms, 1e3), OutcomeName(op.outcome), op.kind});
  }
  return {
      {"title", report.title},
      {"topology", report.topology},
      {"mode", report.mode},
      {"seed", report.seed},
      {"seed_hex", fmt::format("{:#x}", report.seed)},
      {"duration_s", report.duration_s},
      {"nodes", report.nodes},
      {"hosts", report.hosts},
      {"passed", report.passed()},
      {"counts",
       {{"ok", report.counts.ok},
        {"failed", report.counts.failed},
        {"indeterminate", report.counts.indeterminate}}},
      {"verdicts", std::move(verdicts)},
      {"faults", std::move(faults)},
      {"ops_fields", {"start_s", "latency_ms", "outcome", "kind"}},
      {"ops", std::move(ops)},
      {"extra", report.extra},
  };
}

std::string RenderLatencyPng(const Report& report, int width, int height) {
  const PlotGeometry g = ComputeGeometry(report, width, height);
  Canvas canvas(g.width, g.height);
  DrawFaultBands(canvas, g, report);
  DrawGrid(canvas, g);
  DrawInstantFaults(canvas, g, report);
  DrawFrameAndTicks(canvas, g);
  DrawPoints(canvas, g, report);
  DrawLegend(canvas, g, report);
  return EncodePng(canvas);
}

std::string RenderHtml(const Report& report, std::string_view png) {
  const auto [width, height] = PngSize(png);
  const PlotGeometry g = ComputeGeometry(report, width, height);
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  fmt::format_to(std::back_inserter(out), "<title>{}</title>\n", Escape(report.title));
  out += kStyleSheet;
  out += "</head>\n<body>\n";
  fmt::format_to(std::back_inserter(out), "<h1>{}</h1>\n", Escape(report.title));
  out += report.passed() ? "<p class=\"passed\">PASSED</p>\n" : "<p class=\"failed\">FAILED</p>\n";
  AppendRunInfo(out, report);
  AppendCounts(out, report);
  AppendVerdicts(out, report);
  out += "<h2>Latency and faults</h2>\n";
  fmt::format_to(std::back_inserter(out),
                 "<div><img src=\"data:image/png;base64,{}\" width=\"{}\" height=\"{}\" "
                 "alt=\"latency over time, fault spans as bands\"></div>\n",
                 Base64(png), g.width, g.height);
  AppendFaultLanes(out, report, g);
  AppendFaultTable(out, report);
  if (!report.extra.is_null() && !report.extra.empty()) {
    out += "<h2>Extra</h2>\n<pre>";
    out += Escape(report.extra.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    out += "</pre>\n";
  }
  out += "</body>\n</html>\n";
  return out;
}

Status WriteReport(const Report& report, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create report directory {}: {}", dir.string(), ec.message()));
  }
  KVD_TRY(WriteFile(dir / "report.json", FormatJson(ToJson(report))));
  const std::string png = RenderLatencyPng(report);
  KVD_TRY(WriteFile(dir / "latency.png", png));
  KVD_TRY(WriteFile(dir / "report.html", RenderHtml(report, png)));
  return Status::Ok();
}

}  // namespace kvd::torture
