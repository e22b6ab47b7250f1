#include "scfm/tasks/report.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "scfm/eval/dataset.h"
#include "scfm/eval/html.h"
#include "scfm/eval/obs_colour.h"
#include "scfm/eval/plot.h"
#include "scfm/eval/report.h"
#include "scfm/eval/scatter.h"
#include "scfm/io/h5ad.h"
#include "scfm/tasks/umap.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace scfm::tasks {
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string slug(const std::string& s, int index) {
  std::string out = "s" + std::to_string(index) + "-";
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  return out;
}

std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// args.json as a two-column table
std::string settings_table(const nlohmann::json& args) {
  std::ostringstream os;
  os << "<div class=\"table\"><table class=\"settings\"><thead><tr><th>setting</th><th>value</th></tr></thead><tbody>\n";
  for (auto it = args.begin(); it != args.end(); ++it)
    os << "<tr><td><code>" << eval::svg_escape(it.key()) << "</code></td><td>" << eval::svg_escape(value_text(it.value()))
       << "</td></tr>\n";
  os << "</tbody></table></div>";
  return os.str();
}

// Logged records (metrics.jsonl lines, or results.json's per-epoch list): per kind of record, the
// loss-like fields against `x_key` (the step, or the epoch); the learning rate apart. `bad` counts
// records that were not JSON objects.
std::vector<eval::HtmlBlock> curves(const std::vector<nlohmann::json>& records, const std::string& x_key,
                                    const std::string& source, int64_t bad) {
  std::map<std::string, eval::LineSeries> series;
  std::vector<std::string> order;
  eval::LineSeries lr{"lr", "#1f77b4", "", {}, {}};
  int64_t lineno = 0;
  static const std::vector<std::string> skip = {"step", "epoch", "lr", "cells_per_s", "n_masked", "kind", "seconds",
                                                "stage", "n_cells", "n_genes"};
  for (const nlohmann::json& j : records) {
    ++lineno;
    const double step = j.contains(x_key) && j[x_key].is_number() ? j[x_key].get<double>() : static_cast<double>(lineno);
    const std::string kind = j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
    if (j.contains("lr") && j["lr"].is_number()) {
      lr.x.push_back(step);
      lr.y.push_back(j["lr"].get<double>());
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.value().is_number() || std::find(skip.begin(), skip.end(), it.key()) != skip.end()) continue;
      const std::string name = kind.empty() ? it.key() : kind + " " + it.key();
      if (!series.count(name)) {
        order.push_back(name);
        series[name].name = name;
      }
      series[name].x.push_back(step);
      series[name].y.push_back(it.value().get<double>());
    }
  }
  std::vector<eval::HtmlBlock> out;
  // loss-like fields (mse, loss, error) on one chart, the rest (accuracy, ...) on another
  // the main losses; the finer ones (mse by value range, relative error, accuracy) on the second chart
  auto lossy = [](const std::string& n) {
    const std::string f = n.substr(n.find(' ') + 1);
    for (const char* k : {"loss", "mse", "train_loss", "valid_loss", "weighted_loss", "gene_mean_baseline_mse", "mlm_loss"})
      if (f == k) return true;
    return false;
  };
  const auto& palette = eval::tab10();
  for (int pass = 0; pass < 2; ++pass) {
    eval::LineChart c;
    c.title = pass == 0 ? "Loss (train: solid, validation: dashed)" : "Other logged measures";
    c.x_label = x_key;
    c.y_label = pass == 0 ? "loss / error" : "value";
    c.width = 760;
    for (const auto& name : order) {
      if (lossy(name) != (pass == 0)) continue;
      eval::LineSeries s = series[name];
      s.color = palette[c.series.size() % palette.size()];
      if (name.find("valid") != std::string::npos) s.dash = "6,4";
      c.series.push_back(std::move(s));
      if (c.series.size() >= 10) break;
    }
    if (!c.series.empty()) out.push_back({"svg", eval::line_chart_svg(c), source + ": " + c.title});
  }
  if (lr.x.size() > 1) {
    eval::LineChart c;
    c.title = "Learning rate";
    c.x_label = x_key;
    c.y_label = "lr";
    c.width = 520;
    c.series.push_back(lr);
    out.push_back({"svg", eval::line_chart_svg(c), "learning rate schedule"});
  }
  if (bad > 0)
    out.push_back({"html", "<p>" + std::to_string(bad) + " record(s) of " + eval::svg_escape(source) +
                               " are not JSON objects and were skipped.</p>", ""});
  return out;
}

std::vector<eval::HtmlBlock> curves(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<nlohmann::json> records;
  int64_t bad = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) ++bad;
    else records.push_back(std::move(j));
  }
  return curves(records, "step", path.filename().string(), bad);
}

std::vector<std::string> default_colors(const io::AnnData& ad) {
  const auto cols = io::dataframe_columns(ad.obs());
  std::vector<std::string> out;
  for (const auto& group : std::vector<std::vector<std::string>>{{"cell_type", "celltype", "cell_types", "label", "labels"},
                                                                   {"batch", "str_batch", "batch_id", "sample"},
                                                                   {"scfm_map_label", "scfm_predicted", "predicted_cell_type"}}) {
    for (const auto& c : group)
      if (std::find(cols.begin(), cols.end(), c) != cols.end()) {
        out.push_back(c);
        break;
      }
  }
  return out;
}

bool has_obsm(const io::AnnData& ad, const std::string& key) {
  const io::Node* obsm = ad.root.child("obsm");
  return obsm != nullptr && obsm->child(key) != nullptr;
}

}  // namespace

nlohmann::json write_report(const ReportOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out.empty()) throw Error("report: --out is required");
  if (o.dirs.empty() && o.h5ads.empty()) throw Error("report: give at least one run/task folder or --h5ad file");
  eval::HtmlPage page;
  page.title = o.title;
  {
    const std::time_t now = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    page.subtitle = std::string("written by scfm 0.1.0 on ") + buf;
  }
  nlohmann::json summary;
  summary["sections"] = nlohmann::json::array();
  int64_t figures = 0, points = 0;
  int index = 0;
  for (const auto& d : o.dirs) {
    const fs::path dir(d);
    if (!fs::is_directory(dir)) throw Error("report: " + d + " is not a folder");
    eval::HtmlSection s;
    s.title = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
    s.id = slug(s.title, index++);
    bool known = false;
    if (fs::exists(dir / "args.json")) {
      nlohmann::json args = nlohmann::json::parse(read_file(dir / "args.json"), nullptr, false);
      if (args.is_discarded() || !args.is_object())
        throw FormatError((dir / "args.json").string(), "", "expected a JSON object of settings");
      s.blocks.push_back({"html", "<h3>Settings</h3>" + settings_table(args), ""});
      known = true;
    }
    if (fs::exists(dir / "metrics.jsonl")) {
      auto c = curves(dir / "metrics.jsonl");
      if (!c.empty()) s.blocks.push_back({"html", "<h3>Training curves</h3>", ""});
      for (auto& b : c) {
        figures += b.kind == "svg";
        s.blocks.push_back(std::move(b));
      }
      known = true;
    }
    if (fs::exists(dir / "results.md")) {
      s.blocks.push_back({"markdown", read_file(dir / "results.md"), ""});
      known = true;
    }
    // fine-tunes keep their per-epoch losses in results.json
    if (fs::exists(dir / "results.json")) {
      const nlohmann::json r = nlohmann::json::parse(read_file(dir / "results.json"), nullptr, false);
      if (r.is_object() && r.contains("epochs") && r["epochs"].is_array() && !r["epochs"].empty() &&
          r["epochs"][0].is_object() && r["epochs"][0].contains("epoch")) {
        std::vector<nlohmann::json> records(r["epochs"].begin(), r["epochs"].end());
        for (auto& b : curves(records, "epoch", "results.json epochs", 0)) {
          figures += b.kind == "svg";
          s.blocks.push_back(std::move(b));
        }
      }
    }
    std::vector<fs::path> svgs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".svg") svgs.push_back(e.path());
    std::sort(svgs.begin(), svgs.end());
    int shown = 0;
    for (const auto& p : svgs) {
      if (shown >= o.max_figures_per_dir) break;
      if (fs::file_size(p) > (8u << 20)) continue;  // not inlined: too big for a page
      s.blocks.push_back({"svg", read_file(p), p.filename().string()});
      ++shown;
      ++figures;
      known = true;
    }
    if (static_cast<int>(svgs.size()) > shown)
      s.blocks.push_back({"html", "<p>" + std::to_string(svgs.size() - shown) + " more figure(s) in " +
                                      eval::svg_escape(d) + " are not shown.</p>", ""});
    if (!known)
      throw Error("report: " + d + " holds none of args.json, metrics.jsonl, results.md or *.svg; is it an scfm run or task folder?");
    summary["sections"].push_back(s.title);
    page.sections.push_back(std::move(s));
  }
  for (const auto& f : o.h5ads) {
    eval::HtmlSection s;
    s.title = "Cells: " + fs::path(f).filename().string();
    s.id = slug(fs::path(f).stem().string(), index++);
    io::H5adReadOptions ro;
    ro.lazy_matrix_elements = 0;
    const io::AnnData ad = io::read_h5ad(f, ro);
    const std::vector<std::string> colors = o.colors.empty() ? default_colors(ad) : o.colors;
    if (colors.empty()) throw Error("report: " + f + ": no --color given and no cell_type/label/batch column in obs");
    const std::string key = "X_umap";
    std::string note;
    std::vector<float> xy;
    if (!has_obsm(ad, key)) {
      // a layout on the fly, as scfm umap computes it, drawn without writing it anywhere
      check_colors(ad, colors);  // a colour typo fails before the work
      const eval::Embedded e = eval::read_embedded(ad, o.embedding, "");
      const eval::UmapResult r = eval::umap(eval::EmbeddingView{e.x.data(), e.n, e.dim}, o.umap);
      xy = first_two_columns(r.x, r.n, r.dim, f, key);
      note = "UMAP of obsm['" + o.embedding + "'] computed for this report (" + std::to_string(r.n_epochs) +
             " epochs; `scfm umap` writes it into the file).";
    } else {
      xy = read_xy(ad, key);
      note = "obsm['X_umap'] as stored in the file.";
    }
    const std::vector<std::pair<std::string, std::string>> plots = umap_plots(ad, xy, key, colors);
    s.blocks.push_back({"html", "<p>" + eval::svg_escape(note) + "</p>", ""});
    for (size_t i = 0; i < plots.size(); ++i) {
      s.blocks.push_back({"svg", plots[i].second, "coloured by " + colors[i]});
      ++figures;
    }
    const std::string& first = plots.front().second;
    const size_t at = first.find("data-points=\"");
    if (at != std::string::npos) points += std::stoll(first.substr(at + 13)) * static_cast<int64_t>(plots.size());
    summary["sections"].push_back(s.title);
    page.sections.push_back(std::move(s));
  }
  const std::string html = eval::render_html(page);
  eval::write_text(o.out, html);
  summary["out"] = o.out;
  summary["figures"] = figures;
  summary["points"] = points;
  summary["bytes"] = html.size();
  summary["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace scfm::tasks
