// Results a person can read: every evaluation task writes, into its output folder,
//   results.json   everything measured (machine-readable; the source of the other files)
//   results.md     the summary tables in Markdown
//   results.csv    the main table (one row per method/metric), for spreadsheets
//   *.svg          confusion matrices (open in any browser)
// Every file is written through a temporary and a rename: a crash leaves no half-written file.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scfm/eval/metrics.h"

namespace scfm::eval {

struct Table {
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;

  std::string markdown() const;
  // RFC 4180: fields with a comma, quote or newline are quoted, quotes doubled.
  std::string csv() const;
};

// A number as a table cell: fixed `digits` decimals; "mean ± std" for the two-number form.
std::string cell(double value, int digits = 4);
std::string cell(const MeanStd& value, int digits = 4);

// A self-contained SVG heat map of the confusion matrix, rows = true class, columns = predicted,
// colour = row-normalised share, the count written in each cell.
std::string confusion_svg(const ClassificationMetrics& m, const std::string& title);

// Writes `content` to `path` atomically (creates missing parent folders).
void write_text(const std::string& path, const std::string& content);

struct Report {
  std::string title;
  nlohmann::json results;
  std::vector<Table> tables;  // tables[0] also goes to results.csv
  std::vector<std::pair<std::string, std::string>> svgs;  // (file name, content)
  std::vector<std::string> notes;  // Markdown paragraphs after the tables
};
// Writes results.json, results.md, results.csv and the SVGs into `dir` (created if missing).
void write_report(const std::string& dir, const Report& report);

}  // namespace scfm::eval
