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

struct Heatmap {
  std::string title, subtitle;
  std::vector<std::string> rows, columns;  // labels
  std::vector<double> values;              // rows x columns, row-major (the colour)
  std::vector<std::string> cell_text;      // optional, same size: written in each cell (tooltips always)
  std::string legend = "value";            // what the colour means
  int cell = 22;                           // cell size in pixels
};

// A diverging heat map (blue - white - red around 0, saturated at the largest |value|) with row
// labels on the left, column labels rotated above, and a colour key. Throws scfm::Error when the
// sizes disagree.
std::string heatmap_svg(const Heatmap& h);

struct NetworkEdge {
  int source = 0, target = 0;  // node indices
  double weight = 0;           // sets width and opacity (relative to the largest |weight|)
};
struct Network {
  std::string title, subtitle;
  std::vector<std::string> nodes;  // labels
  std::vector<NetworkEdge> edges;  // directed, source -> target
  std::string legend = "weight";   // what the edge width means
  int size = 560;                  // of the square drawing area, in pixels
};
// Nodes on a circle (in the order given), directed edges as arrows whose width and opacity grow
// with |weight| (red for positive, blue for negative weights), a tooltip per edge. Throws
// scfm::Error for an edge naming a node that does not exist.
std::string network_svg(const Network& n);

// matplotlib's tab10 (the line charts' colours).
const std::vector<std::string>& tab10();

// Text for SVG/HTML: < > & " escaped.
std::string svg_escape(const std::string& s);

}  // namespace scfm::eval
