// Scatter plots of a 2-D embedding (UMAP, PCA) coloured by one obs column, as scanpy's
// sc.pl.umap(adata, color=COL) draws them: categories in scanpy's default palettes with a legend
// on the right, numbers on viridis with a colour bar. Self-contained SVG (no scripts, no fonts).
#pragma once

#include <string>
#include <vector>

namespace scfm::eval {

// scanpy's default categorical colours for a column of `n` categories: its default_20
// (vega_20_scanpy) up to 20, default_28 (zeileis_28) up to 28; beyond 28 (scanpy: godsnot_102)
// evenly spread hues at the golden angle, each category its own colour.
std::vector<std::string> scanpy_palette(size_t n);

// matplotlib's viridis at t in [0, 1] (linear between nine stops), as "#rrggbb".
std::string viridis(double t);

struct Scatter {
  std::string title;
  std::string id;                       // the <svg> element's id, which scopes its styles inside an
                                        // HTML page ("" = one made from the title and legend)
  std::vector<float> xy;                // n x 2, row-major
  // one of the two: categories (codes[i] < 0: no value, drawn grey) ...
  std::vector<std::string> categories;  // in legend order
  std::vector<int> codes;               // n
  std::vector<std::string> colors;      // optional, one per category (else scanpy_palette)
  // ... or numbers (NaN: no value)
  std::vector<double> values;           // n
  std::string legend;                   // the column's name
  int size = 480;                       // of the square plot area, in pixels
  double point_radius = 0;              // 0: from the number of points (scanpy's 120000 / n)
};

// Points in data order (later ones on top, as scanpy draws categories), an equal-aspect frame
// without axes ticks (scanpy's frameon style), the legend or colour bar on the right. The <svg>
// element has class "scfm-plot scfm-scatter" and data-points="n"; each point is a <circle>.
// Throws scfm::Error when the sizes disagree or neither colouring is given.
std::string scatter_svg(const Scatter& s);

}  // namespace scfm::eval
