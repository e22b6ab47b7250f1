// One self-contained HTML page (no network: styles, SVG figures and the one small script inline)
// out of sections of Markdown, tables and SVG: what `scfm report` writes.
#pragma once

#include <string>
#include <vector>

namespace scfm::eval {

// The Markdown scfm's own results.md files use, as HTML: '#' headings (shifted down by
// `heading_shift` levels), pipe tables (with the |---:| alignment row), '- ' lists, paragraphs,
// `code`, **bold** and ![images] (as a reference: the report inlines a folder's figures). Everything
// else is text, escaped.
std::string markdown_to_html(const std::string& md, int heading_shift = 1);

struct HtmlBlock {
  std::string kind;     // "html" (trusted, inserted as is), "svg" (an SVG document), "markdown"
  std::string content;
  std::string caption;  // figures only
};
struct HtmlSection {
  std::string id, title;
  std::vector<HtmlBlock> blocks;
};
struct HtmlPage {
  std::string title, subtitle;
  std::vector<HtmlSection> sections;
};

// The page: a header, a table of contents, the sections; figures in <figure class="plot"> with
// their caption. The script only marks <body data-ready="1"> once the page is laid out and lets a
// click on a figure toggle its full width; it logs nothing.
std::string render_html(const HtmlPage& page);

}  // namespace scfm::eval
