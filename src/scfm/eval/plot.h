// Small self-contained SVG charts (no scripts, no external fonts): open in any browser, embed in
// Markdown or HTML reports.
#pragma once

#include <string>
#include <vector>

namespace scfm::eval {

struct LineSeries {
  std::string name;                  // legend text
  std::string color = "#1f77b4";     // any SVG colour
  std::string dash;                  // SVG stroke-dasharray ("6,4"); empty = solid
  std::vector<double> x, y;          // same length; non-finite y values break the line
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<std::string> x_ticks;  // optional labels at x = 0, 1, ... (else numbers)
  std::vector<LineSeries> series;
  int width = 640, height = 400;
};

// Lines with markers, axes with ~5 ticks, a legend on the right. Throws scfm::Error when a
// series' x and y differ in length.
std::string line_chart_svg(const LineChart& chart);

// matplotlib's tab10, the palette scanpy uses for up to ten categories.
const std::vector<std::string>& tab10();

}  // namespace scfm::eval
