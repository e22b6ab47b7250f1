// eval/scatter, eval/obs_colour and eval/html: scanpy's palettes, points and legend in the SVG,
// colours taken from uns['<col>_colors'], Markdown tables as HTML.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>

#include "scfm/eval/html.h"
#include "scfm/eval/obs_colour.h"
#include "scfm/eval/scatter.h"
#include "scfm/io/h5ad.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm::eval;

namespace {
size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST(Scatter, ScanpyPalettes) {
  // scanpy.plotting.palettes: default_20 (vega_20_scanpy) up to 20 categories, default_28 to 28
  const auto p8 = scanpy_palette(8);
  ASSERT_EQ(p8.size(), 8u);
  EXPECT_EQ(p8[0], "#1f77b4");
  EXPECT_EQ(p8[2], "#2ca02c");
  EXPECT_EQ(p8[7], "#bcbd22");  // grey removed from tab20's dark half
  const auto p20 = scanpy_palette(20);
  EXPECT_EQ(p20[9], "#aec7e8");
  EXPECT_EQ(p20[19], "#8c6d31");
  const auto p25 = scanpy_palette(25);
  EXPECT_EQ(p25[0], "#023fa5");
  const auto p40 = scanpy_palette(40);
  std::set<std::string> distinct(p40.begin(), p40.end());
  EXPECT_EQ(distinct.size(), 40u);
  EXPECT_EQ(viridis(0), "#440154");
  EXPECT_EQ(viridis(1), "#fde725");
}

TEST(Scatter, PointsLegendAndScopedStyles) {
  Scatter s;
  s.title = "t";
  s.legend = "cell_type";
  s.categories = {"B", "T <naive>"};
  for (int i = 0; i < 50; ++i) {
    s.xy.push_back(static_cast<float>(i));
    s.xy.push_back(static_cast<float>(i % 7));
    s.codes.push_back(i % 3 == 0 ? -1 : i % 2);
  }
  const std::string svg = scatter_svg(s);
  EXPECT_NE(svg.find("data-points=\"50\""), std::string::npos);
  // 50 points + 2 legend swatches
  EXPECT_EQ(count(svg, "<circle"), 52u);
  EXPECT_EQ(count(svg, "class=\"kna\""), 17u);
  EXPECT_NE(svg.find("T &lt;naive&gt;"), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("id=\"([A-Za-z][A-Za-z0-9_-]*)\"")));
  EXPECT_NE(svg.find("#" + m[1].str() + " .k0{fill:#1f77b4}"), std::string::npos);
  // numbers: a colour bar, no category classes
  Scatter v;
  v.xy = s.xy;
  v.values.assign(50, 1.0);
  v.values[3] = NAN;
  const std::string vs = scatter_svg(v);
  EXPECT_NE(vs.find("linearGradient"), std::string::npos);
  EXPECT_EQ(count(vs, "fill=\"#d3d3d3\""), 1u);
  v.values.pop_back();
  EXPECT_THROW(scatter_svg(v), scfm::Error);
  s.codes[0] = 5;
  EXPECT_THROW(scatter_svg(s), scfm::Error);
}

TEST(Scatter, ColoursFromObsAsScanpy) {
  scfm::io::AnnData ad = scfm::io::read_h5ad(scfm::test::real_data("pbmc3k_decoupler.h5ad"), {0, false});
  Scatter s;
  colour_by_obs(ad, "cell_type", s);
  EXPECT_EQ(s.categories.size(), 8u);
  EXPECT_EQ(s.codes.size(), 160u);
  EXPECT_TRUE(s.values.empty());
  colour_by_obs(ad, "percent_mt", s);
  EXPECT_EQ(s.values.size(), 160u);
  EXPECT_TRUE(s.categories.empty());
  // uns['cell_type_colors'] is what scanpy draws with
  std::vector<std::string> mine(8, "#123456");
  mine[1] = "#abcdef";
  ad.root.child("uns")->set("cell_type_colors", scfm::io::make_string_array(mine));
  colour_by_obs(ad, "cell_type", s);
  ASSERT_EQ(s.colors.size(), 8u);
  EXPECT_EQ(s.colors[1], "#abcdef");
  try {
    colour_by_obs(ad, "nope", s);
    FAIL();
  } catch (const scfm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("obs/nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("cell_type"), std::string::npos);
  }
}

TEST(Html, MarkdownTablesListsAndEscapes) {
  const std::string h = markdown_to_html("# Title\n\n### Sub `x`\n\n| a | b |\n| --- | ---: |\n| 1 <2 | **3** |\n| p \\| q | 4 |\n\n- one\n- two\n\ntext\nmore\n");
  EXPECT_NE(h.find("<h2>Title</h2>"), std::string::npos);
  EXPECT_NE(h.find("<h4>Sub <code>x</code></h4>"), std::string::npos);
  EXPECT_NE(h.find("<th class=\"num\">b</th>"), std::string::npos);
  EXPECT_NE(h.find("<td>1 &lt;2</td><td class=\"num\"><strong>3</strong></td>"), std::string::npos);
  EXPECT_NE(h.find("<td>p | q</td>"), std::string::npos);
  EXPECT_EQ(count(h, "<li>"), 2u);
  EXPECT_NE(h.find("<p>text more</p>"), std::string::npos);
  EXPECT_NE(markdown_to_html("see ![c](confusion.svg) here").find("(figure: confusion.svg, below)"), std::string::npos);
  HtmlPage page;
  page.title = "r & d";
  page.sections.push_back({"s1", "Section", {{"svg", "<?xml version=\"1.0\"?>\n<svg></svg>", "cap"}}});
  const std::string html = render_html(page);
  EXPECT_NE(html.find("<title>r &amp; d</title>"), std::string::npos);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"plot\"><svg></svg><figcaption>cap</figcaption>"), std::string::npos);
}
