#include "scfm/eval/scatter.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "scfm/eval/plot.h"
#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

std::string fmt(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string hex(double r, double g, double b) {
  char buf[8];
  auto c = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c(r), c(g), c(b));
  return buf;
}

// HSL -> RGB (s, l in [0, 1], h in degrees)
std::string hsl(double h, double s, double l) {
  auto f = [&](double n) {
    const double k = std::fmod(n + h / 30.0, 12.0), a = s * std::min(l, 1 - l);
    return l - a * std::max(-1.0, std::min({k - 3, 9 - k, 1.0}));
  };
  return hex(f(0), f(8), f(4));
}

}  // namespace

std::vector<std::string> scanpy_palette(size_t n) {
  static const std::vector<std::string> default_20 = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
      "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#ad494a", "#8c6d31"};
  static const std::vector<std::string> default_28 = {
      "#023fa5", "#7d87b9", "#bec1d4", "#d6bcc0", "#bb7784", "#8e063b", "#4a6fe3", "#8595e1", "#b5bbe3", "#e6afb9",
      "#e07b91", "#d33f6a", "#11c638", "#8dd593", "#c6dec7", "#ead3c6", "#f0b98d", "#ef9708", "#0fcfc0", "#9cded6",
      "#d5eae7", "#f3e1eb", "#f6c4e1", "#f79cd4", "#7f7f7f", "#c7c7c7", "#1CE6FF", "#336600"};
  if (n <= 20) return {default_20.begin(), default_20.begin() + static_cast<long>(n)};
  if (n <= 28) return {default_28.begin(), default_28.begin() + static_cast<long>(n)};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(hsl(std::fmod(137.50776405 * static_cast<double>(i), 360.0), 0.65, i % 3 == 0 ? 0.45 : i % 3 == 1 ? 0.6 : 0.35));
  return out;
}

std::string viridis(double t) {
  // matplotlib's viridis sampled at 0, 1/8, ..., 1
  static const double stops[9][3] = {{0.267, 0.005, 0.329}, {0.278, 0.175, 0.483}, {0.230, 0.322, 0.546},
                                     {0.173, 0.449, 0.558}, {0.128, 0.567, 0.551}, {0.153, 0.680, 0.510},
                                     {0.369, 0.789, 0.383}, {0.678, 0.864, 0.190}, {0.993, 0.906, 0.144}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  return hex(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]), stops[i][1] + f * (stops[i + 1][1] - stops[i][1]),
             stops[i][2] + f * (stops[i + 1][2] - stops[i][2]));
}

std::string scatter_svg(const Scatter& s) {
  const size_t n = s.xy.size() / 2;
  if (s.xy.size() % 2 != 0) throw Error("scatter_svg: xy holds an odd number of values (" + std::to_string(s.xy.size()) + ")");
  const bool categorical = !s.codes.empty() || !s.categories.empty();
  if (categorical && s.codes.size() != n)
    throw Error("scatter_svg: " + std::to_string(s.codes.size()) + " category codes for " + std::to_string(n) + " points");
  if (!categorical && s.values.size() != n)
    throw Error("scatter_svg: " + std::to_string(s.values.size()) + " values for " + std::to_string(n) + " points");
  if (categorical && !s.colors.empty() && s.colors.size() != s.categories.size())
    throw Error("scatter_svg: " + std::to_string(s.colors.size()) + " colours for " + std::to_string(s.categories.size()) +
                " categories");
  for (int c : s.codes)
    if (c >= static_cast<int>(s.categories.size()))
      throw Error("scatter_svg: category code " + std::to_string(c) + " beyond the " + std::to_string(s.categories.size()) +
                  " categories");
  const std::vector<std::string> colors =
      categorical ? (s.colors.empty() ? scanpy_palette(s.categories.size()) : s.colors) : std::vector<std::string>{};

  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (size_t i = 0; i < n; ++i) {
    const double x = s.xy[2 * i], y = s.xy[2 * i + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  if (!(x1 >= x0)) x0 = y0 = 0, x1 = y1 = 1;
  const double span = std::max({x1 - x0, y1 - y0, 1e-12});
  const double margin = 12, left = 10, top = 34, area = s.size;
  const double scale = (area - 2 * margin) / span;
  const double ox = left + margin + ((area - 2 * margin) - (x1 - x0) * scale) / 2;
  const double oy = top + margin + ((area - 2 * margin) - (y1 - y0) * scale) / 2;
  // scanpy: marker area 120000 / n points^2 -> a radius in pixels, kept visible and not huge
  const double r = s.point_radius > 0 ? s.point_radius : std::clamp(std::sqrt(120000.0 / std::max<size_t>(n, 1)) / 4.0, 0.7, 5.0);

  // legend geometry
  const size_t ncat = s.categories.size();
  const int per_column = 26;
  const int columns = categorical ? static_cast<int>((ncat + per_column - 1) / per_column) : 1;
  size_t longest = 4;
  for (const auto& c : s.categories) longest = std::max(longest, c.size());
  const double column_width = 26 + 7.0 * static_cast<double>(std::min<size_t>(longest, 40));
  const double legend_width = categorical ? columns * column_width : 90;
  const double width = left + area + 16 + legend_width + 10;
  const double height = top + area + 10;

  std::string id = s.id;
  if (id.empty()) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a of title and legend
    for (char c : s.title + "\x1f" + s.legend) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    char buf[24];
    std::snprintf(buf, sizeof buf, "scatter-%012llx", static_cast<unsigned long long>(h & 0xffffffffffffULL));
    id = buf;
  }
  // a CSS-safe identifier: it scopes the styles (#id .k0)
  for (char& c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  if (!std::isalpha(static_cast<unsigned char>(id[0]))) id = "s" + id;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << svg_escape(id) << "\" class=\"scfm-plot scfm-scatter\" data-points=\"" << n << "\" width=\""
     << fmt(width, 0) << "\" height=\"" << fmt(height, 0) << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << fmt(left + area / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << svg_escape(s.title)
     << "</text>\n";
  os << "<rect x=\"" << fmt(left) << "\" y=\"" << fmt(top) << "\" width=\"" << fmt(area) << "\" height=\"" << fmt(area)
     << "\" fill=\"none\" stroke=\"#444\"/>\n";
  // colours as classes: one short attribute a point
  std::vector<std::string> point_colors;
  std::ostringstream style;
  const std::string scope = "#" + svg_escape(id) + " ";
  style << "<style>" << scope << "circle{stroke:none}";
  if (categorical) {
    for (size_t c = 0; c < ncat; ++c) style << scope << ".k" << c << "{fill:" << colors[c] << "}";
    style << scope << ".kna{fill:#d3d3d3}";
  }
  style << "</style>\n";
  os << style.str();
  double vmin = std::numeric_limits<double>::infinity(), vmax = -vmin;
  if (!categorical)
    for (double v : s.values)
      if (std::isfinite(v)) vmin = std::min(vmin, v), vmax = std::max(vmax, v);
  os << "<g class=\"points\">\n";
  const std::string rs = fmt(r, 2);
  for (size_t i = 0; i < n; ++i) {
    const double x = s.xy[2 * i], y = s.xy[2 * i + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    os << "<circle cx=\"" << fmt(ox + (x - x0) * scale) << "\" cy=\"" << fmt(oy + (y1 - y) * scale) << "\" r=\"" << rs << "\"";
    if (categorical) {
      if (s.codes[i] < 0) os << " class=\"kna\"";
      else os << " class=\"k" << s.codes[i] << "\"";
    } else {
      const double v = s.values[i];
      os << " fill=\""
         << (std::isfinite(v) ? viridis(vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.5) : std::string("#d3d3d3")) << "\"";
    }
    os << "/>\n";
  }
  os << "</g>\n";
  const double lx = left + area + 16;
  os << "<g class=\"legend\">\n";
  os << "<text x=\"" << fmt(lx) << "\" y=\"" << fmt(top + 4) << "\" font-weight=\"bold\">" << svg_escape(s.legend) << "</text>\n";
  if (categorical) {
    std::vector<size_t> counts(ncat, 0);
    for (int c : s.codes)
      if (c >= 0) ++counts[static_cast<size_t>(c)];
    for (size_t c = 0; c < ncat; ++c) {
      const double cx = lx + static_cast<double>(c / per_column) * column_width;
      const double cy = top + 22 + static_cast<double>(c % per_column) * 17;
      os << "<g class=\"legend-item\"><title>" << svg_escape(s.categories[c]) << ": " << counts[c] << " cells</title>";
      os << "<circle cx=\"" << fmt(cx + 5) << "\" cy=\"" << fmt(cy - 4) << "\" r=\"5\" class=\"k" << c << "\"/>";
      std::string label = s.categories[c];
      if (label.size() > 40) label = label.substr(0, 39) + "…";
      os << "<text x=\"" << fmt(cx + 15) << "\" y=\"" << fmt(cy) << "\">" << svg_escape(label) << "</text></g>\n";
    }
  } else if (vmax >= vmin) {
    const double bx = lx, by = top + 16, bh = std::min(200.0, area - 40);
    os << "<defs><linearGradient id=\"" << svg_escape(id) << "-viridis\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
    for (int k = 0; k <= 8; ++k) os << "<stop offset=\"" << fmt(k / 8.0, 3) << "\" stop-color=\"" << viridis(k / 8.0) << "\"/>";
    os << "</linearGradient></defs>\n";
    os << "<rect x=\"" << fmt(bx) << "\" y=\"" << fmt(by) << "\" width=\"14\" height=\"" << fmt(bh)
       << "\" fill=\"url(#" << svg_escape(id) << "-viridis)\"/>\n";
    os << "<text x=\"" << fmt(bx + 20) << "\" y=\"" << fmt(by + 10) << "\">" << svg_escape(fmt(vmax, 3)) << "</text>\n";
    os << "<text x=\"" << fmt(bx + 20) << "\" y=\"" << fmt(by + bh) << "\">" << svg_escape(fmt(vmin, 3)) << "</text>\n";
  }
  os << "</g>\n</svg>\n";
  return os.str();
}

}  // namespace scfm::eval
