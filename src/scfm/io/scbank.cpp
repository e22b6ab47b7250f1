#include "scfm/io/scbank.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "scfm/util/error.h"

namespace scfm::io {
namespace fs = std::filesystem;

JsonLinesCells::JsonLinesCells(const std::string& path, const ParquetCellsOptions& names, int64_t block_rows)
    : path_(path), names_(names), block_rows_(block_rows) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot be read");
  std::string line;
  int64_t offset = 0;
  bool first = true;
  while (true) {
    const int64_t at = offset;
    if (!std::getline(in, line)) break;
    offset += static_cast<int64_t>(line.size()) + 1;
    if (line.empty() || line == "\r") continue;
    if (n_rows_ % block_rows_ == 0) starts_.push_back(at);
    if (first) {  // the flat fields of the first row: obs candidates
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) throw FormatError(path, "line 1", "not a JSON object");
      for (auto it = j.begin(); it != j.end(); ++it)
        if (!it.value().is_array() && !it.value().is_object()) flat_.push_back(it.key());
      for (const std::string* k : {&names.genes, &names.expressions})
        if (!j.contains(*k) || !j[*k].is_array()) throw FormatError(path, *k, "line 1 has no list \"" + *k + "\"");
      first = false;
    }
    ++n_rows_;
  }
}

std::vector<std::string> JsonLinesCells::lines(int b) const {
  std::ifstream in(path_, std::ios::binary);
  in.seekg(starts_.at(static_cast<size_t>(b)));
  std::vector<std::string> out;
  std::string line;
  const int64_t want = block_rows(b);
  while (static_cast<int64_t>(out.size()) < want && std::getline(in, line))
    if (!line.empty() && line != "\r") out.push_back(line);
  if (static_cast<int64_t>(out.size()) != want) throw FormatError(path_, "block " + std::to_string(b), "the file changed while read");
  return out;
}

CsrMatrix JsonLinesCells::block(int b, int64_t n_cols) const {
  CsrMatrix m;
  m.n_cols = n_cols;
  const std::vector<std::string> ls = lines(b);
  m.n_rows = static_cast<int64_t>(ls.size());
  for (size_t r = 0; r < ls.size(); ++r) {
    const int64_t row = block_first(b) + static_cast<int64_t>(r);
    const std::string where = "line " + std::to_string(row + 1);
    const nlohmann::json j = nlohmann::json::parse(ls[r], nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw FormatError(path_, where, "not a JSON object");
    const auto g = j.find(names_.genes), e = j.find(names_.expressions);
    if (g == j.end() || !g->is_array()) throw FormatError(path_, where + ": " + names_.genes, "expected a list of gene ids");
    if (e == j.end() || !e->is_array()) throw FormatError(path_, where + ": " + names_.expressions, "expected a list of numbers");
    if (g->size() != e->size())
      throw FormatError(path_, where, std::to_string(g->size()) + " genes but " + std::to_string(e->size()) + " expressions");
    for (size_t k = 0; k < g->size(); ++k) {
      const auto& id = (*g)[k];
      const auto& v = (*e)[k];
      if (!id.is_number() || !v.is_number()) throw FormatError(path_, where, "a gene id or expression that is not a number");
      const double d = id.get<double>();
      if (d != static_cast<double>(static_cast<int64_t>(d)) || d < 0 || d >= static_cast<double>(n_cols))
        throw FormatError(path_, where + ": " + names_.genes,
                          "gene id " + id.dump() + " outside the vocabulary's 0.." + std::to_string(n_cols - 1));
      m.indices.push_back(static_cast<int32_t>(d));
      m.data.push_back(v.get<float>());
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  return m;
}

std::vector<std::vector<std::string>> JsonLinesCells::block_obs(int b, const std::vector<std::string>& columns) const {
  const std::vector<std::string> ls = lines(b);
  const bool has_id = std::find(flat_.begin(), flat_.end(), names_.id) != flat_.end();
  std::vector<std::vector<std::string>> out(columns.size() + 1);
  for (size_t r = 0; r < ls.size(); ++r) {
    const nlohmann::json j = nlohmann::json::parse(ls[r], nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw FormatError(path_, "line " + std::to_string(block_first(b) + static_cast<int64_t>(r) + 1), "not a JSON object");
    auto str = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? std::string() : v.dump(); };
    out[0].push_back(has_id && j.contains(names_.id) ? str(j[names_.id]) : std::to_string(block_first(b) + static_cast<int64_t>(r)));
    for (size_t c = 0; c < columns.size(); ++c) {
      if (std::find(flat_.begin(), flat_.end(), columns[c]) == flat_.end())
        throw FormatError(path_, columns[c], "no such field in the rows");
      out[c + 1].push_back(j.contains(columns[c]) ? str(j[columns[c]]) : std::string());
    }
  }
  return out;
}

bool is_scbank(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::exists(fs::path(dir) / "manifest.json", ec) &&
         fs::exists(fs::path(dir) / "gene_vocab.json", ec);
}

ScbankFolder open_scbank(const std::string& dir, const ParquetCellsOptions& names) {
  ScbankFolder f;
  f.dir = dir;
  const fs::path manifest = fs::path(dir) / "manifest.json";
  std::ifstream in(manifest);
  if (!in) throw Error(dir + ": not an scBank folder (no manifest.json)");
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  if (m.is_discarded() || !m.is_object()) throw FormatError(manifest.string(), "", "not a JSON object");
  if (!m.contains("on_disk_format") || !m["on_disk_format"].is_string())
    throw FormatError(manifest.string(), "on_disk_format", "missing; scBank writes \"parquet\" or \"json\"");
  f.format = m["on_disk_format"].get<std::string>();
  if (f.format != "parquet" && f.format != "json")
    throw FormatError(manifest.string(), "on_disk_format", "\"" + f.format + "\"; expected \"parquet\" or \"json\"");
  if (!m.contains("main_data") || !m["main_data"].is_string())
    throw FormatError(manifest.string(), "main_data", "missing or null: no data table was added to this scBank");
  f.main_table = m["main_data"].get<std::string>();
  f.table_path = (fs::path(dir) / (f.main_table + ".datatable." + f.format)).string();
  if (!fs::exists(f.table_path))
    throw FormatError(manifest.string(), "main_data", "names table \"" + f.main_table + "\" but " + f.table_path + " does not exist");
  f.gene_vocab = Vocab::load((fs::path(dir) / "gene_vocab.json").string());
  if (f.format == "parquet") f.table = std::make_unique<ParquetCells>(f.table_path, names);
  else f.table = std::make_unique<JsonLinesCells>(f.table_path, names);
  return f;
}

}  // namespace scfm::io
