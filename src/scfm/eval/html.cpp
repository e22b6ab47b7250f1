#include "scfm/eval/html.h"

#include <sstream>

#include "scfm/eval/plot.h"

namespace scfm::eval {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// `code` and **bold** inside escaped text
std::string inline_md(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '`') {
      const size_t j = text.find('`', i + 1);
      if (j != std::string::npos) {
        out += "<code>" + svg_escape(text.substr(i + 1, j - i - 1)) + "</code>";
        i = j + 1;
        continue;
      }
    }
    if (text.compare(i, 2, "![") == 0) {  // an image: the report inlines the folder's figures itself
      const size_t close = text.find("](", i + 2), end = close == std::string::npos ? close : text.find(')', close + 2);
      if (end != std::string::npos) {
        out += "<em class=\"figure-ref\">(figure: " + svg_escape(text.substr(close + 2, end - close - 2)) + ", below)</em>";
        i = end + 1;
        continue;
      }
    }
    if (text.compare(i, 2, "**") == 0) {
      const size_t j = text.find("**", i + 2);
      if (j != std::string::npos) {
        out += "<strong>" + inline_md(text.substr(i + 2, j - i - 2)) + "</strong>";
        i = j + 2;
        continue;
      }
    }
    out += svg_escape(std::string(1, text[i]));
    ++i;
  }
  return out;
}

std::vector<std::string> table_cells(const std::string& line) {
  std::string s = trim(line);
  if (!s.empty() && s.front() == '|') s.erase(0, 1);
  if (!s.empty() && s.back() == '|') s.pop_back();
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '|') {
      cur += '|';
      ++i;
    } else if (s[i] == '|') {
      cells.push_back(trim(cur));
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  cells.push_back(trim(cur));
  return cells;
}

bool is_alignment_row(const std::string& line) {
  const std::string s = trim(line);
  if (s.empty() || s[0] != '|') return false;
  for (char c : s)
    if (c != '|' && c != '-' && c != ':' && c != ' ') return false;
  return s.find('-') != std::string::npos;
}

}  // namespace

std::string markdown_to_html(const std::string& md, int heading_shift) {
  std::vector<std::string> lines;
  {
    std::istringstream is(md);
    std::string l;
    while (std::getline(is, l)) lines.push_back(l);
  }
  std::ostringstream os;
  std::string para;
  auto flush_para = [&] {
    if (!trim(para).empty()) os << "<p>" << inline_md(trim(para)) << "</p>\n";
    para.clear();
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string t = trim(lines[i]);
    if (t.empty()) {
      flush_para();
      continue;
    }
    if (t[0] == '#') {
      flush_para();
      size_t level = t.find_first_not_of('#');
      const std::string text = trim(t.substr(level == std::string::npos ? t.size() : level));
      const int h = std::min(6, static_cast<int>(level) + heading_shift);
      os << "<h" << h << ">" << inline_md(text) << "</h" << h << ">\n";
      continue;
    }
    if (t[0] == '|' && i + 1 < lines.size() && is_alignment_row(lines[i + 1])) {
      flush_para();
      const std::vector<std::string> head = table_cells(t), align = table_cells(lines[i + 1]);
      os << "<div class=\"table\"><table>\n<thead><tr>";
      auto attr = [&](size_t c) {
        if (c < align.size() && !align[c].empty() && align[c].back() == ':') return std::string(" class=\"num\"");
        return std::string();
      };
      for (size_t c = 0; c < head.size(); ++c) os << "<th" << attr(c) << ">" << inline_md(head[c]) << "</th>";
      os << "</tr></thead>\n<tbody>\n";
      i += 2;
      for (; i < lines.size() && !trim(lines[i]).empty() && trim(lines[i])[0] == '|'; ++i) {
        const std::vector<std::string> row = table_cells(lines[i]);
        os << "<tr>";
        for (size_t c = 0; c < row.size(); ++c) os << "<td" << attr(c) << ">" << inline_md(row[c]) << "</td>";
        os << "</tr>\n";
      }
      --i;
      os << "</tbody></table></div>\n";
      continue;
    }
    if (t.rfind("- ", 0) == 0 || t.rfind("* ", 0) == 0) {
      flush_para();
      os << "<ul>\n";
      for (; i < lines.size() && (trim(lines[i]).rfind("- ", 0) == 0 || trim(lines[i]).rfind("* ", 0) == 0); ++i)
        os << "<li>" << inline_md(trim(lines[i]).substr(2)) << "</li>\n";
      --i;
      os << "</ul>\n";
      continue;
    }
    para += (para.empty() ? "" : " ") + t;
  }
  flush_para();
  return os.str();
}

std::string render_html(const HtmlPage& page) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
     << "<title>" << svg_escape(page.title) << "</title>\n<style>\n"
     << "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}\n"
     << "header{background:#1f3b57;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}"
     << "header p{margin:4px 0 0;opacity:.85;font-size:14px}\n"
     << "nav{padding:10px 32px;background:#eef2f6;font-size:14px}nav a{margin-right:14px;color:#1f3b57}\n"
     << "main{padding:8px 32px 40px;max-width:1500px}section{background:#fff;border:1px solid #ddd;border-radius:6px;"
     << "padding:6px 20px 16px;margin:18px 0}\n"
     << "h2{border-bottom:1px solid #eee;padding-bottom:4px}h3{margin-top:22px}\n"
     << ".table{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:8px 0}"
     << "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}"
     << "th{background:#f2f4f7}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
     << ".figures{display:flex;flex-wrap:wrap;gap:14px}figure.plot{margin:6px 0;overflow:auto;max-width:100%;"
     << "cursor:zoom-in}figure.plot.wide{max-width:none}figure.plot svg{max-width:100%;height:auto}"
     << "figure.plot.wide svg{max-width:none}figcaption{font-size:12px;color:#555}\n"
     << "code{background:#f2f4f7;padding:0 3px;border-radius:3px}\n"
     << "</style>\n</head>\n<body data-ready=\"0\">\n";
  os << "<header><h1>" << svg_escape(page.title) << "</h1>";
  if (!page.subtitle.empty()) os << "<p>" << svg_escape(page.subtitle) << "</p>";
  os << "</header>\n<nav>";
  for (const auto& s : page.sections) os << "<a href=\"#" << svg_escape(s.id) << "\">" << svg_escape(s.title) << "</a>";
  os << "</nav>\n<main>\n";
  for (const auto& s : page.sections) {
    os << "<section id=\"" << svg_escape(s.id) << "\">\n<h2>" << svg_escape(s.title) << "</h2>\n";
    bool in_figures = false;
    for (const auto& b : s.blocks) {
      const bool fig = b.kind == "svg";
      if (fig && !in_figures) os << "<div class=\"figures\">\n";
      if (!fig && in_figures) os << "</div>\n";
      in_figures = fig;
      if (fig) {
        std::string svg = b.content;
        const size_t start = svg.find("<svg");
        if (start != std::string::npos) svg.erase(0, start);  // no XML prolog inside HTML
        os << "<figure class=\"plot\">" << svg << "<figcaption>" << svg_escape(b.caption) << "</figcaption></figure>\n";
      } else if (b.kind == "markdown") {
        os << markdown_to_html(b.content, 2);
      } else {
        os << b.content << "\n";
      }
    }
    if (in_figures) os << "</div>\n";
    os << "</section>\n";
  }
  os << "</main>\n<script>\n"
     << "(function(){\n"
     << "  document.querySelectorAll('figure.plot').forEach(function(f){\n"
     << "    f.addEventListener('click', function(){ f.classList.toggle('wide'); });\n"
     << "  });\n"
     << "  document.body.setAttribute('data-figures', String(document.querySelectorAll('figure.plot svg').length));\n"
     << "  document.body.setAttribute('data-ready', '1');\n"
     << "})();\n</script>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace scfm::eval
