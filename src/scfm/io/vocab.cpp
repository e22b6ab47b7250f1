#include "scfm/io/vocab.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unordered_map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scfm/util/atomic_file.h"

namespace scfm::io {
namespace {

using json = nlohmann::json;

// For messages: the text as a JSON string, invalid UTF-8 shown as U+FFFD (dump() would throw, and
// this runs inside the parser's error callback, where a throw ends the process).
std::string json_quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

// SAX handler for a flat {"token": id} object. nlohmann's DOM silently keeps the last of
// duplicate keys, so duplicates are caught here while the text streams past.
class VocabSax : public nlohmann::json_sax<json> {
 public:
  explicit VocabSax(std::string path) : path_(std::move(path)) {}

  std::vector<std::pair<std::string, int64_t>> entries;

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t v) override { return id(v); }
  bool number_unsigned(number_unsigned_t v) override {
    if (v > static_cast<number_unsigned_t>(INT32_MAX)) return value("an id beyond 2^31-1");
    return id(static_cast<int64_t>(v));
  }
  bool number_float(number_float_t, const string_t& text) override { return value("the number " + text); }
  bool string(string_t& s) override { return value("the string " + json_quoted(s)); }
  bool binary(binary_t&) override { return value("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_ > 0) return value("an object");
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return value("an array"); }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    throw FormatError(path_, "byte " + std::to_string(position),
                      "not valid JSON near " + json_quoted(last_token) + " (" + ex.what() +
                          "); expected a vocab.json object {\"token\": id, ...}");
  }

 private:
  bool id(int64_t v) {
    if (depth_ == 0) return value("a number");
    if (v < 0) throw FormatError(path_, json_quoted(key_), "negative id " + std::to_string(v) + "; ids run 0..n-1");
    auto [it, fresh] = seen_.emplace(key_, entries.size());
    if (!fresh)
      throw FormatError(path_, json_quoted(key_),
                        "duplicate token: it appears more than once in the object (ids " +
                            std::to_string(entries[it->second].second) + " and " + std::to_string(v) + ")");
    entries.emplace_back(key_, v);
    return true;
  }
  [[noreturn]] bool value(const std::string& what) {
    if (depth_ == 0)
      throw FormatError(path_, "/", "expected a JSON object {\"token\": id, ...}, found " + what);
    throw FormatError(path_, json_quoted(key_), "expected an integer id, found " + what);
  }

  std::string path_;
  int depth_ = 0;
  std::string key_;
  std::unordered_map<std::string, size_t> seen_;
};

}  // namespace

const std::vector<std::string>& Vocab::special_tokens() {
  static const std::vector<std::string> specials{kPad, kCls, kEoc};
  return specials;
}

void Vocab::index_and_complete() {
  ids_.clear();
  ids_.reserve(tokens_.size() + 3);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (!ids_.emplace(tokens_[i], static_cast<int32_t>(i)).second)
      throw Error("vocabulary: duplicate token " + json_quoted(tokens_[i]) + " at ids " +
                  std::to_string(ids_[tokens_[i]]) + " and " + std::to_string(i));
  }
  appended_.clear();
  for (const std::string& s : special_tokens()) {
    if (ids_.count(s) != 0) continue;
    ids_.emplace(s, static_cast<int32_t>(tokens_.size()));
    tokens_.push_back(s);
    appended_.push_back(s);
  }
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  if (tokens.size() > static_cast<size_t>(INT32_MAX) - 3) throw Error("vocabulary: too many tokens");
  Vocab v;
  v.tokens_ = std::move(tokens);
  v.index_and_complete();
  return v;
}

Vocab Vocab::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "file", "cannot open the vocabulary (no such file or not readable)");
  VocabSax sax(path);
  json::sax_parse(in, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
  if (sax.entries.empty() && in.bad()) throw FormatError(path, "file", "cannot read the vocabulary");
  return from_entries(sax.entries, path);
}

Vocab Vocab::parse(std::string_view text, const std::string& path) {
  VocabSax sax(path);
  json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
  return from_entries(sax.entries, path);
}

Vocab Vocab::from_entries(const std::vector<std::pair<std::string, int64_t>>& entries, const std::string& path) {
  const int64_t n = static_cast<int64_t>(entries.size());
  std::vector<const std::string*> by_id(static_cast<size_t>(n), nullptr);
  std::vector<std::pair<std::string, int64_t>> beyond;  // ids >= n
  for (auto& [tok, id] : entries) {
    if (id >= n) {
      beyond.emplace_back(tok, id);
      continue;
    }
    if (by_id[id] != nullptr)
      throw FormatError(path, "id " + std::to_string(id),
                        "duplicate id: used by both " + json_quoted(*by_id[id]) + " and " + json_quoted(tok));
    by_id[id] = &tok;
  }
  if (!beyond.empty()) {
    // unique ids with one beyond n-1 leave a hole below n
    int64_t missing = 0;
    while (missing < n && by_id[missing] != nullptr) ++missing;
    int64_t largest = 0;
    for (auto& [tok, id] : entries) largest = std::max(largest, id);
    throw FormatError(path, "id " + std::to_string(missing),
                      "ids are not consecutive: " + std::to_string(n) + " tokens must use ids 0.." +
                          std::to_string(n - 1) + ", but id " + std::to_string(missing) + " is missing and " +
                          json_quoted(beyond.front().first) + " has id " + std::to_string(beyond.front().second) +
                          " (largest id " + std::to_string(largest) + ")");
  }
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<size_t>(n) + 3);
  for (auto* t : by_id) tokens.push_back(*t);
  Vocab v = from_tokens(std::move(tokens));
  v.path_ = path;
  return v;
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& gene_lists) {
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t> seen;
  for (const auto& list : gene_lists)
    for (const std::string& g : list)
      if (!g.empty() && seen.emplace(g, static_cast<int32_t>(tokens.size())).second) tokens.push_back(g);
  // specials named as genes would land mid-list; take them out so they sit at the end
  tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                              [](const std::string& t) {
                                auto& s = special_tokens();
                                return std::find(s.begin(), s.end(), t) != s.end();
                              }),
               tokens.end());
  Vocab v = from_tokens(std::move(tokens));
  return v;
}

void Vocab::save(const std::string& path) const {
  util::AtomicPath out(path);
  {
    std::ofstream f(out.temp(), std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path + ": cannot write the vocabulary (is the folder there and writable?)");
    f << "{";
    for (size_t i = 0; i < tokens_.size(); ++i) f << (i == 0 ? "\n  " : ",\n  ") << json_quoted(tokens_[i]) << ": " << i;
    f << (tokens_.empty() ? "}\n" : "\n}\n");
    f.flush();
    if (!f) throw Error(path + ": writing the vocabulary failed (disk full?)");
  }
  out.commit();
}

int32_t Vocab::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

const std::string& Vocab::token(int64_t id) const {
  if (id < 0 || id >= size())
    throw Error("vocabulary: id " + std::to_string(id) + " is outside 0.." + std::to_string(size() - 1));
  return tokens_[static_cast<size_t>(id)];
}

bool Vocab::is_special(int32_t id) const {
  if (id < 0 || id >= size()) return false;
  auto& s = special_tokens();
  return std::find(s.begin(), s.end(), tokens_[id]) != s.end();
}

std::string Vocab::checksum() const {
  uint64_t h = 0xcbf29ce484222325ULL;
  const uint64_t prime = 0x100000001b3ULL;
  for (const std::string& t : tokens_) {
    for (unsigned char c : t) {
      h ^= c;
      h *= prime;
    }
    h *= prime;  // the NUL separator: h ^= 0 leaves h unchanged
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string> gene_names(const AnnData& data, const std::string& gene_col) {
  const Node& var = data.var();
  if (gene_col.empty() || gene_col == var.attr_string("_index", "_index")) return data.var_names();
  std::vector<std::string> cols = dataframe_columns(var);
  if (std::find(cols.begin(), cols.end(), gene_col) == cols.end()) {
    std::string have;
    for (auto& c : cols) have += (have.empty() ? "" : ", ") + c;
    throw FormatError(data.path, "/var/" + gene_col,
                      "no such var column; the var columns are: " + (have.empty() ? "(none)" : have) +
                          " (leave the gene column empty to use the var index)");
  }
  return column_strings(var, gene_col);
}

GeneMatch match_genes(const Vocab& vocab, const AnnData& data, const std::string& gene_col) {
  return match_gene_names(vocab, gene_names(data, gene_col));
}

GeneMatch match_gene_names(const Vocab& vocab, const std::vector<std::string>& genes) {
  GeneMatch m;
  m.var_to_id.resize(genes.size(), -1);
  for (size_t i = 0; i < genes.size(); ++i) {
    int32_t id = vocab.id(genes[i]);
    if (id >= 0 && vocab.is_special(id)) id = -1;
    m.var_to_id[i] = id;
    if (id >= 0) {
      ++m.n_matched;
    } else {
      ++m.n_unmatched;
      if (m.unmatched_examples.size() < 10) m.unmatched_examples.push_back(genes[i]);
    }
  }
  return m;
}

}  // namespace scfm::io
