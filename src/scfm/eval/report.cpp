#include "scfm/eval/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"

namespace scfm::eval {

namespace fs = std::filesystem;

static std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string Table::markdown() const {
  std::ostringstream os;
  if (!title.empty()) os << "### " << title << "\n\n";
  os << "|";
  for (const auto& c : columns) os << " " << md_escape(c) << " |";
  os << "\n|";
  for (size_t i = 0; i < columns.size(); ++i) os << (i == 0 ? " --- |" : " ---: |");
  os << "\n";
  for (const auto& r : rows) {
    os << "|";
    for (const auto& v : r) os << " " << md_escape(v) << " |";
    os << "\n";
  }
  return os.str();
}

static std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Table::csv() const {
  std::ostringstream os;
  for (size_t i = 0; i < columns.size(); ++i) os << (i ? "," : "") << csv_field(columns[i]);
  os << "\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) os << (i ? "," : "") << csv_field(r[i]);
    os << "\n";
  }
  return os.str();
}

std::string cell(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

std::string cell(const MeanStd& v, int digits) { return cell(v.mean, digits) + " ± " + cell(v.std, digits); }

static std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string confusion_svg(const ClassificationMetrics& m, const std::string& title) {
  const int k = static_cast<int>(m.classes.size());
  size_t longest = 4;
  for (const auto& c : m.classes) longest = std::max(longest, std::min<size_t>(c.size(), 28));
  const int cellpx = 44, label = static_cast<int>(longest) * 7 + 16, top = 40 + label, left = label + 30;
  const int width = left + k * cellpx + 20, height = top + k * cellpx + 50;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">" << xml_escape(title) << "</text>\n";
  char acc[96];
  std::snprintf(acc, sizeof acc, "accuracy %.4f, macro-F1 %.4f, n = %lld", m.accuracy, m.macro_f1,
                static_cast<long long>(m.n));
  os << "<text x=\"10\" y=\"36\">" << acc << "</text>\n";
  auto shorten = [](const std::string& s) { return s.size() > 28 ? s.substr(0, 27) + "…" : s; };
  for (int j = 0; j < k; ++j) {
    const int x = left + j * cellpx + cellpx / 2;
    os << "<text transform=\"translate(" << x + 4 << "," << top - 6 << ") rotate(-60)\">"
       << xml_escape(shorten(m.classes[j])) << "</text>\n";
  }
  for (int i = 0; i < k; ++i) {
    int64_t row = 0;
    for (int j = 0; j < k; ++j) row += m.confusion[i][j];
    const int y = top + i * cellpx;
    os << "<text x=\"" << left - 6 << "\" y=\"" << y + cellpx / 2 + 4 << "\" text-anchor=\"end\">"
       << xml_escape(shorten(m.classes[i])) << "</text>\n";
    for (int j = 0; j < k; ++j) {
      const double share = row > 0 ? static_cast<double>(m.confusion[i][j]) / row : 0.0;
      // white -> dark blue
      const int r = static_cast<int>(255 - share * (255 - 8)), g = static_cast<int>(255 - share * (255 - 48)),
                b = static_cast<int>(255 - share * (255 - 107));
      const int x = left + j * cellpx;
      os << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cellpx << "\" height=\"" << cellpx
         << "\" fill=\"rgb(" << r << "," << g << "," << b << ")\" stroke=\"#ccc\"><title>" << xml_escape(m.classes[i])
         << " -> " << xml_escape(m.classes[j]) << ": " << m.confusion[i][j] << "</title></rect>\n";
      os << "<text x=\"" << x + cellpx / 2 << "\" y=\"" << y + cellpx / 2 + 4 << "\" text-anchor=\"middle\" fill=\""
         << (share > 0.5 ? "white" : "black") << "\">" << m.confusion[i][j] << "</text>\n";
    }
  }
  os << "<text x=\"" << left + k * cellpx / 2 << "\" y=\"" << top + k * cellpx + 20
     << "\" text-anchor=\"middle\">predicted</text>\n";
  os << "<text transform=\"translate(14," << top + k * cellpx / 2 << ") rotate(-90)\" text-anchor=\"middle\">true</text>\n";
  os << "</svg>\n";
  return os.str();
}

void write_text(const std::string& path, const std::string& content) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  util::AtomicPath out(path);
  {
    std::ofstream f(out.temp(), std::ios::binary);
    if (!f) throw Error(path + ": cannot open for writing");
    f << content;
    f.close();
    if (!f) throw Error(path + ": write failed (disk full?)");
  }
  out.commit();
}

void write_report(const std::string& dir, const Report& r) {
  fs::create_directories(dir);
  write_text((fs::path(dir) / "results.json").string(), r.results.dump(2) + "\n");
  std::ostringstream md;
  md << "# " << r.title << "\n\n";
  for (const auto& t : r.tables) md << t.markdown() << "\n";
  for (const auto& n : r.notes) md << n << "\n\n";
  for (const auto& s : r.svgs) md << "![" << s.first << "](" << s.first << ")\n\n";
  write_text((fs::path(dir) / "results.md").string(), md.str());
  if (!r.tables.empty()) write_text((fs::path(dir) / "results.csv").string(), r.tables[0].csv());
  for (const auto& s : r.svgs) write_text((fs::path(dir) / s.first).string(), s.second);
}

}  // namespace scfm::eval
