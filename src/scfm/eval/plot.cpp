#include "scfm/eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "scfm/util/error.h"

namespace scfm::eval {

std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

namespace {

std::string escape(const std::string& s) { return svg_escape(s); }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_label(double v, double step) {
  char buf[32];
  const int digits = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step))));
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "nice" tick step for a range (1, 2 or 5 times a power of ten)
double nice_step(double range, int ticks) {
  if (!(range > 0)) return 1;
  const double raw = range / ticks, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

}  // namespace

const std::vector<std::string>& tab10() {
  static const std::vector<std::string> p = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                             "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return p;
}

std::string line_chart_svg(const LineChart& c) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : c.series) {
    if (s.x.size() != s.y.size()) throw Error("line_chart_svg: series '" + s.name + "' has " + std::to_string(s.x.size()) +
                                              " x and " + std::to_string(s.y.size()) + " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) {  // a constant: a band around it on its own scale (an lr of 3e-3 stays readable)
    const double pad = y0 == 0 ? 0.5 : 0.1 * std::fabs(y0);
    y0 -= pad, y1 += pad;
  }
  const double ystep = nice_step(y1 - y0, 5);
  y0 = std::floor(y0 / ystep) * ystep;
  y1 = std::ceil(y1 / ystep) * ystep;
  const double left = 70, top = 40, legend_w = 220, bottom = 50;
  const double pw = c.width - left - legend_w - 20, ph = c.height - top - bottom;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << c.width << "\" height=\"" << c.height
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << c.width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << escape(c.title) << "</text>\n";
  // axes and ticks
  os << "<g stroke=\"#333\" fill=\"none\"><line x1=\"" << num(left) << "\" y1=\"" << num(top + ph) << "\" x2=\"" << num(left + pw)
     << "\" y2=\"" << num(top + ph) << "\"/><line x1=\"" << num(left) << "\" y1=\"" << num(top) << "\" x2=\"" << num(left)
     << "\" y2=\"" << num(top + ph) << "\"/></g>\n";
  for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {
    os << "<line x1=\"" << num(left) << "\" y1=\"" << num(py(y)) << "\" x2=\"" << num(left + pw) << "\" y2=\"" << num(py(y))
       << "\" stroke=\"#ddd\"/>";
    os << "<text x=\"" << num(left - 6) << "\" y=\"" << num(py(y) + 4) << "\" text-anchor=\"end\">" << tick_label(y, ystep)
       << "</text>\n";
  }
  if (!c.x_ticks.empty()) {
    for (size_t i = 0; i < c.x_ticks.size(); ++i) {
      const double x = static_cast<double>(i);
      if (x < x0 - 1e-9 || x > x1 + 1e-9) continue;
      os << "<text x=\"" << num(px(x)) << "\" y=\"" << num(top + ph + 18) << "\" text-anchor=\"middle\">" << escape(c.x_ticks[i])
         << "</text>\n";
    }
  } else {
    const double xstep = nice_step(x1 - x0, 5);
    for (double x = std::ceil(x0 / xstep) * xstep; x <= x1 + xstep * 1e-6; x += xstep)
      os << "<text x=\"" << num(px(x)) << "\" y=\"" << num(top + ph + 18) << "\" text-anchor=\"middle\">" << tick_label(x, xstep)
         << "</text>\n";
  }
  os << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << c.height - 10 << "\" text-anchor=\"middle\">" << escape(c.x_label)
     << "</text>\n";
  os << "<text transform=\"translate(16," << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">" << escape(c.y_label)
     << "</text>\n";
  // series
  for (size_t k = 0; k < c.series.size(); ++k) {
    const auto& s = c.series[k];
    const std::string dash = s.dash.empty() ? "" : " stroke-dasharray=\"" + escape(s.dash) + "\"";
    std::string path;
    bool open = false;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        open = false;
        continue;
      }
      path += (open ? " L" : " M") + num(px(s.x[i])) + "," + num(py(s.y[i]));
      open = true;
    }
    os << "<g class=\"series\" data-name=\"" << escape(s.name) << "\">";
    if (!path.empty())
      os << "<path d=\"" << path.substr(1) << "\" stroke=\"" << s.color << "\" stroke-width=\"2\" fill=\"none\"" << dash << "/>";
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i]))
        os << "<circle cx=\"" << num(px(s.x[i])) << "\" cy=\"" << num(py(s.y[i])) << "\" r=\"3.5\" fill=\"" << s.color << "\"/>";
    os << "</g>\n";
    const double ly = top + 8 + 18 * static_cast<double>(k), lx = left + pw + 20;
    os << "<line x1=\"" << num(lx) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(lx + 24) << "\" y2=\"" << num(ly)
       << "\" stroke=\"" << s.color << "\" stroke-width=\"2\"" << dash << "/>";
    os << "<text x=\"" << num(lx + 30) << "\" y=\"" << num(ly + 4) << "\">" << escape(s.name) << "</text>\n";
  }
  os << "</svg>\n";
  return os.str();
}

std::string heatmap_svg(const Heatmap& h) {
  const size_t nr = h.rows.size(), nc = h.columns.size();
  if (h.values.size() != nr * nc || (!h.cell_text.empty() && h.cell_text.size() != nr * nc))
    throw Error("heatmap: " + std::to_string(nr) + " x " + std::to_string(nc) + " labels but " +
                std::to_string(h.values.size()) + " values");
  auto shorten = [](const std::string& s) { return s.size() > 28 ? s.substr(0, 27) + "..." : s; };
  size_t row_chars = 4, col_chars = 4;
  for (const auto& r : h.rows) row_chars = std::max(row_chars, std::min<size_t>(r.size(), 30));
  for (const auto& c : h.columns) col_chars = std::max(col_chars, std::min<size_t>(c.size(), 30));
  double vmax = 0;
  for (double v : h.values)
    if (std::isfinite(v)) vmax = std::max(vmax, std::abs(v));
  if (!(vmax > 0)) vmax = 1;
  const int c = h.cell, left = static_cast<int>(row_chars) * 7 + 16, top = 50 + static_cast<int>(col_chars) * 6;
  const int width = std::max(left + static_cast<int>(nc) * c + 140, 360), height = top + static_cast<int>(nr) * c + 30;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" << escape(h.title) << "</text>\n";
  if (!h.subtitle.empty()) os << "<text x=\"10\" y=\"34\">" << escape(h.subtitle) << "</text>\n";
  auto colour = [&](double v) {
    if (!std::isfinite(v)) return std::string("#dddddd");
    const double t = std::max(-1.0, std::min(1.0, v / vmax));
    // white -> #b2182b (positive), white -> #2166ac (negative)
    const int tr = t >= 0 ? 0xb2 : 0x21, tg = t >= 0 ? 0x18 : 0x66, tb = t >= 0 ? 0x2b : 0xac;
    const double a = std::abs(t);
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(255 - a * (255 - tr)), static_cast<int>(255 - a * (255 - tg)),
                  static_cast<int>(255 - a * (255 - tb)));
    return std::string(buf);
  };
  for (size_t j = 0; j < nc; ++j)
    os << "<text transform=\"translate(" << left + static_cast<int>(j) * c + c / 2 + 4 << "," << top - 6
       << ") rotate(-60)\">" << escape(shorten(h.columns[j])) << "</text>\n";
  for (size_t i = 0; i < nr; ++i) {
    const int y = top + static_cast<int>(i) * c;
    os << "<text x=\"" << left - 6 << "\" y=\"" << y + c / 2 + 4 << "\" text-anchor=\"end\">" << escape(shorten(h.rows[i]))
       << "</text>\n";
    for (size_t j = 0; j < nc; ++j) {
      const double v = h.values[i * nc + j];
      char val[32];
      std::snprintf(val, sizeof val, "%.3g", v);
      os << "<rect class=\"cell\" x=\"" << left + static_cast<int>(j) * c << "\" y=\"" << y << "\" width=\"" << c
         << "\" height=\"" << c << "\" fill=\"" << colour(v) << "\" stroke=\"#eee\"><title>" << escape(h.rows[i]) << ", "
         << escape(h.columns[j]) << ": " << val << "</title></rect>";
      if (!h.cell_text.empty())
        os << "<text x=\"" << left + static_cast<int>(j) * c + c / 2 << "\" y=\"" << y + c / 2 + 4
           << "\" text-anchor=\"middle\" font-size=\"9\">" << escape(h.cell_text[i * nc + j]) << "</text>";
      os << "\n";
    }
  }
  // colour key
  const int kx = left + static_cast<int>(nc) * c + 20;
  for (int s = 0; s <= 10; ++s) {
    const double v = vmax * (1 - s / 5.0);
    os << "<rect x=\"" << kx << "\" y=\"" << top + s * 12 << "\" width=\"14\" height=\"12\" fill=\"" << colour(v) << "\"/>";
  }
  os << "\n<text x=\"" << kx + 18 << "\" y=\"" << top + 10 << "\">" << tick_label(vmax, vmax / 10) << "</text>";
  os << "<text x=\"" << kx + 18 << "\" y=\"" << top + 5 * 12 + 10 << "\">0</text>";
  os << "<text x=\"" << kx + 18 << "\" y=\"" << top + 10 * 12 + 10 << "\">" << tick_label(-vmax, vmax / 10) << "</text>";
  os << "<text x=\"" << kx << "\" y=\"" << top + 11 * 12 + 16 << "\">" << escape(h.legend) << "</text>\n";
  os << "</svg>\n";
  return os.str();
}

std::string network_svg(const Network& n) {
  const int nn = static_cast<int>(n.nodes.size());
  double wmax = 0;
  for (const NetworkEdge& e : n.edges) {
    if (e.source < 0 || e.source >= nn || e.target < 0 || e.target >= nn)
      throw Error("network: an edge joins nodes " + std::to_string(e.source) + " and " + std::to_string(e.target) + " of " +
                  std::to_string(nn));
    if (std::isfinite(e.weight)) wmax = std::max(wmax, std::abs(e.weight));
  }
  if (!(wmax > 0)) wmax = 1;
  constexpr double kPi = 3.14159265358979323846;
  const int margin = 110, top = 50, s = n.size;
  const double cx = margin + s / 2.0, cy = top + s / 2.0, r = s / 2.0 - 10;
  std::vector<double> x(nn), y(nn), angle(nn);
  for (int i = 0; i < nn; ++i) {
    angle[i] = -kPi / 2 + 2 * kPi * i / std::max(nn, 1);
    x[i] = cx + r * std::cos(angle[i]);
    y[i] = cy + r * std::sin(angle[i]);
  }
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << s + 2 * margin << "\" height=\"" << top + s + 60
     << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" "
        "orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n";
  os << "<text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" << escape(n.title) << "</text>\n";
  if (!n.subtitle.empty()) os << "<text x=\"10\" y=\"34\">" << escape(n.subtitle) << "</text>\n";
  // weakest first, so the strongest are drawn on top
  std::vector<size_t> order(n.edges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::abs(n.edges[a].weight) < std::abs(n.edges[b].weight); });
  for (size_t i : order) {
    const NetworkEdge& e = n.edges[i];
    const double t = std::isfinite(e.weight) ? std::abs(e.weight) / wmax : 0;
    // end the arrow at the target node's rim (radius 5)
    double dx = x[e.target] - x[e.source], dy = y[e.target] - y[e.source];
    const double len = std::sqrt(dx * dx + dy * dy);
    const double shrink = len > 12 ? (len - 7) / len : 1;
    dx *= shrink;
    dy *= shrink;
    char w[32];
    std::snprintf(w, sizeof w, "%.4g", e.weight);
    os << "<line class=\"edge\" x1=\"" << num(x[e.source]) << "\" y1=\"" << num(y[e.source]) << "\" x2=\""
       << num(x[e.source] + dx) << "\" y2=\"" << num(y[e.source] + dy) << "\" stroke=\""
       << (e.weight >= 0 ? "#b2182b" : "#2166ac") << "\" stroke-width=\"" << num(0.5 + 3.5 * t) << "\" stroke-opacity=\""
       << num(0.25 + 0.7 * t) << "\" marker-end=\"url(#arrow)\"><title>" << escape(n.nodes[e.source]) << " -> "
       << escape(n.nodes[e.target]) << ": " << w << "</title></line>\n";
  }
  for (int i = 0; i < nn; ++i) {
    const bool right = std::cos(angle[i]) >= 0;
    os << "<circle class=\"node\" cx=\"" << num(x[i]) << "\" cy=\"" << num(y[i])
       << "\" r=\"5\" fill=\"#444\"/><text x=\"" << num(x[i] + (right ? 9 : -9) * 1.0) << "\" y=\"" << num(y[i] + 4)
       << "\" text-anchor=\"" << (right ? "start" : "end") << "\">" << escape(n.nodes[i]) << "</text>\n";
  }
  os << "<text x=\"10\" y=\"" << top + s + 40 << "\">" << escape(n.legend) << " (widest: " << tick_label(wmax, wmax / 10)
     << "); arrows point from source to target</text>\n";
  os << "</svg>\n";
  return os.str();
}

}  // namespace scfm::eval
