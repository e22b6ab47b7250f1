// scfm grn attention: the matrices are the attention the model itself uses (softmax(q k^T / sqrt(d))
// from its own weights, checked against the layer's own attention output), rank-normalised as
// scGPT's tutorial does; averaged per group, edges and differences as numpy reads them; the same
// for any thread count; bad input fails in one line with nothing written.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scfm/data/random.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/encoder_layer.h"
#include "scfm/model/factory.h"
#include "scfm/model/scgpt/transformer_model.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/tasks/grn_attention.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string scgpt_fixture() { return test::fixtures_dir() + "/scgpt_transformer"; }

// 8 cells x GENE0..GENE39 with keyed counts (about half zero); obs 'condition': ctrl x 5, pert x 3.
void write_cells(const std::string& path) {
  const int64_t n = 8, g = 40;
  io::CsrMatrix m;
  m.n_rows = n;
  m.n_cols = g;
  for (int64_t c = 0; c < n; ++c) {
    for (int64_t j = 0; j < g; ++j) {
      const double u = test::keyed_uniform(static_cast<uint64_t>(c * 1000 + j));
      if (u < 0.45) continue;
      m.indices.push_back(static_cast<int32_t>(j));
      m.data.push_back(static_cast<float>(1 + std::floor(20 * (u - 0.45))));
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  io::AnnData ad;
  ad.root.is_group = true;
  ad.root.set_attr("encoding-type", io::Array::string_scalar("anndata"));
  ad.root.set_attr("encoding-version", io::Array::string_scalar("0.1.0"));
  ad.root.set("X", io::make_csr(m));
  std::vector<std::string> cells, genes;
  for (int64_t c = 0; c < n; ++c) cells.push_back("cell" + std::to_string(c));
  for (int64_t j = 0; j < g; ++j) genes.push_back("GENE" + std::to_string(j));
  io::Node obs = io::make_dataframe("_index", cells);
  io::dataframe_set_column(obs, "condition", io::make_categorical({0, 0, 1, 0, 1, 0, 1, 0}, io::make_string_array({"ctrl", "pert"})));
  ad.root.set("obs", std::move(obs));
  ad.root.set("var", io::make_dataframe("_index", genes));
  ad.root.set("uns", io::make_dict());
  io::write_h5ad(ad, path);
}

// attention.npy: float32, C order; returns the values and the shape.
std::vector<float> read_npy(const std::string& path, std::vector<int64_t>* shape) {
  const std::string s = test::read_text(path);
  EXPECT_EQ(s.substr(0, 6), "\x93NUMPY");
  const size_t header_len = static_cast<unsigned char>(s[8]) | (static_cast<unsigned char>(s[9]) << 8);
  const std::string header = s.substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_EQ((10 + header_len) % 64, 0u);
  shape->clear();
  const size_t open = header.find("'shape': (") + 10;
  std::istringstream dims(header.substr(open, header.find(')', open) - open));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(' ') != std::string::npos) shape->push_back(std::stoll(d));
  std::vector<float> v((s.size() - 10 - header_len) / 4);
  std::memcpy(v.data(), s.data() + 10 + header_len, v.size() * 4);
  return v;
}

std::vector<std::string> panel() {
  std::vector<std::string> g;
  for (int j = 3; j < 15; ++j) g.push_back("GENE" + std::to_string(j));
  return g;
}

tasks::GrnAttentionOptions options(const test::TempDir& tmp) {
  tasks::GrnAttentionOptions o;
  o.model_dir = scgpt_fixture();
  o.input = tmp / "cells.h5ad";
  o.out_dir = tmp / "out";
  o.group_col = "condition";
  o.genes = panel();
  o.top_k = 3;
  return o;
}

}  // namespace

TEST(NormaliseAttention, RankIsRowThenColumnOrdinalRanksWithStableTies) {
  // head 0 as worked by hand; ties (row 1, and the column step) go to the lower position
  const std::vector<float> s = {0.1f, 0.3f, 0.2f, 0.5f, 0.5f, 0.0f, 1.f, 2.f, 3.f,
                                // head 1: every row the same ascending order
                                1.f, 2.f, 3.f, 1.f, 2.f, 3.f, 1.f, 2.f, 3.f};
  // head 0: row ranks [[0,2,1],[1,2,0],[0,1,2]]; column ranks of those [[0,1,1],[2,2,0],[1,0,2]]
  // head 1: row ranks all [0,1,2]; every column constant, so column ranks [[0,0,0],[1,1,1],[2,2,2]]
  const std::vector<double> h0 = {0, 1, 1, 2, 2, 0, 1, 0, 2}, h1 = {0, 0, 0, 1, 1, 1, 2, 2, 2};
  const std::vector<double> a = tasks::normalise_attention(s.data(), 2, 3, "rank");
  ASSERT_EQ(a.size(), 9u);
  for (int e = 0; e < 9; ++e) EXPECT_DOUBLE_EQ(a[e], (h0[e] + h1[e]) / 2 / 3) << e;

  const std::vector<double> p = tasks::normalise_attention(s.data(), 2, 3, "softmax");
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(p[8], (std::exp(3.0) / z + std::exp(3.0) / z) / 2, 1e-12);  // row 2 is the same in both heads
  EXPECT_NEAR(p[3] + p[4] + p[5], 1.0, 1e-12);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> masked = {0.f, -inf, 1.f, 2.f};  // a padded key gets probability 0
  const std::vector<double> pm = tasks::normalise_attention(masked.data(), 1, 2, "softmax");
  EXPECT_EQ(pm[1], 0.0);
  EXPECT_DOUBLE_EQ(pm[0], 1.0);
  EXPECT_THROW(tasks::normalise_attention(s.data(), 2, 3, "mean"), Error);
}

TEST(GrnAttention, ScGptFixtureEqualsExplicitSoftmaxFromItsWeights) {
  test::TempDir tmp;
  write_cells(tmp / "cells.h5ad");
  tasks::GrnAttentionOptions o = options(tmp);
  o.normalize = "softmax";
  const json r = tasks::grn_attention(o);
  ASSERT_EQ(r["n_genes"], 12);
  ASSERT_EQ(r["heads"], 4);
  ASSERT_EQ(r["groups"].size(), 2u);
  EXPECT_EQ(r["groups"][0]["name"], "ctrl");
  EXPECT_EQ(r["groups"][0]["cells_used"], 5);
  std::vector<int64_t> shape;
  const std::vector<float> npy = read_npy(tmp / "out/attention.npy", &shape);
  ASSERT_EQ(shape, (std::vector<int64_t>{2, 12, 12}));

  // the same cells through the model by hand: input, layer 0, then layer 1's attention from its weights
  torch::NoGradGuard no_grad;
  auto model = model::load_pretrain_model(scgpt_fixture());
  model->module().eval();
  auto& tm = *model->module().as<model::scgpt::TransformerModelImpl>();
  const io::Vocab vocab = io::Vocab::load(scgpt_fixture() + "/vocab.json");
  const io::AnnData ad = io::read_h5ad(tmp / "cells.h5ad");
  const io::GeneMatch match = io::match_genes(vocab, ad, "");
  tasks::CellInput input(vocab, model::input_conventions(model->args()), match.var_to_id, 17, false, 0);
  std::vector<int32_t> ids;
  for (const auto& g : panel()) ids.push_back(vocab.id(g));
  const io::CsrMatrix x = ad.matrix_csr("");
  const auto params = model->module().named_parameters();
  const at::Tensor W = params["transformer_encoder.layers.1.self_attn.in_proj_weight"].to(at::kDouble);
  const at::Tensor b = params["transformer_encoder.layers.1.self_attn.in_proj_bias"].to(at::kDouble);
  const int64_t T = 13, E = 32, H = 4, D = 8;
  const std::vector<int> condition = {0, 0, 1, 0, 1, 0, 1, 0};
  std::vector<double> want(2 * 12 * 12, 0.0);
  for (int64_t c = 0; c < 8; ++c) {
    const tasks::CellTokens t = input.panel_tokens(x, {c}, {c}, ids);
    // the panel, every cell the same: <cls> then the genes; values are the cell's bins (0 where absent)
    ASSERT_EQ(t.genes.size(1), T);
    EXPECT_EQ(t.genes[0][0].item<int64_t>(), vocab.cls_id());
    for (int64_t k = 1; k < T; ++k) EXPECT_EQ(t.genes[0][k].item<int64_t>(), ids[k - 1]);
    EXPECT_FALSE(t.padding.any().item<bool>());
    for (int64_t k = 1; k < T; ++k) {
      bool present = false;
      for (int64_t e = x.indptr[c]; e < x.indptr[c + 1]; ++e) present |= x.indices[e] == ids[k - 1] && x.data[e] != 0;
      EXPECT_EQ(t.values[0][k].item<float>() > 0, present) << c << " " << k;  // fixture vocab ids equal columns
    }
    // layer 1's input is layer 0's output of what _encode gives the transformer: the model's own
    // forward output is layer 1 applied to it
    const at::Tensor x0 = tm.encoder_input(t.genes, t.values, t.padding);
    const at::Tensor x1 = tm.transformer_encoder->stack[0]->forward(x0, t.padding);
    const at::Tensor full = model->forward(t.genes, t.values, t.padding).tokens;
    ASSERT_TRUE(at::allclose(tm.transformer_encoder->stack[1]->forward(x1, t.padding), full, 1e-5, 1e-5));
    // q, k, v from in_proj in double; softmax by hand
    const at::Tensor xd = x1[0].to(at::kDouble);
    const at::Tensor qkv = at::matmul(xd, W.t()) + b;  // T x 3E
    std::vector<double> p(static_cast<size_t>(H * T * T));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        double mx = -1e300, sum = 0;
        std::vector<double> row(T);
        for (int64_t j = 0; j < T; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += qkv[i][h * D + d].item<double>() * qkv[j][E + h * D + d].item<double>();
          row[j] = dot / std::sqrt(double(D));
          mx = std::max(mx, row[j]);
        }
        for (int64_t j = 0; j < T; ++j) sum += row[j] = std::exp(row[j] - mx);
        for (int64_t j = 0; j < T; ++j) p[(h * T + i) * T + j] = row[j] / sum;
      }
    // these probabilities are the ones the layer uses: P v through out_proj is its attention output
    at::Tensor heads_out = at::zeros({T, E}, at::kDouble);
    const at::Tensor pt = at::from_blob(p.data(), {H, T, T}, at::kDouble);
    for (int64_t h = 0; h < H; ++h)
      heads_out.narrow(1, h * D, D).copy_(at::matmul(pt[h], qkv.narrow(1, 2 * E + h * D, D)));
    model::SelfAttention sa = tm.transformer_encoder->stack[1]->self_attn;
    const at::Tensor o_ref = sa->forward(x1, t.padding)[0].to(at::kDouble);
    const at::Tensor o_mine = at::matmul(heads_out, sa->out_proj->weight.to(at::kDouble).t()) + sa->out_proj->bias.to(at::kDouble);
    ASSERT_TRUE(at::allclose(o_mine, o_ref, 1e-5, 1e-5)) << (o_mine - o_ref).abs().max().item<double>();
    const int g = condition[c];
    const double n = g == 0 ? 5 : 3;
    for (int64_t i = 0; i < 12; ++i)
      for (int64_t j = 0; j < 12; ++j) {
        double m = 0;
        for (int64_t h = 0; h < H; ++h) m += p[(h * T + i + 1) * T + j + 1] / H;
        want[(g * 12 + i) * 12 + j] += m / n;
      }
  }
  for (size_t e = 0; e < want.size(); ++e) ASSERT_NEAR(npy[e], want[e], 1e-6) << e;
}

TEST(GrnAttention, EdgesDifferenceAndNumpyAgreeAndThreadsDoNotMatter) {
  test::TempDir tmp;
  write_cells(tmp / "cells.h5ad");
  tasks::GrnAttentionOptions o = options(tmp);
  o.compare = {"pert", "ctrl"};
  o.network_edges = 10;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  tasks::grn_attention(o);
  at::set_num_threads(2);
  o.out_dir = tmp / "out2";
  tasks::grn_attention(o);
  at::set_num_threads(threads);
  for (const char* f : {"attention.npy", "edges.csv", "diff_edges.csv", "network.svg"})
    EXPECT_TRUE(test::read_text(tmp / (std::string("out/") + f)) == test::read_text(tmp / (std::string("out2/") + f))) << f;
  const std::string svg = test::read_text(tmp / "out/network.svg");
  size_t lines = 0;
  for (size_t at = svg.find("class=\"edge\""); at != std::string::npos; at = svg.find("class=\"edge\"", at + 1)) ++lines;
  EXPECT_EQ(lines, 10u);

  // numpy reads the matrices; edges.csv and diff_edges.csv are their columns' top targets
  const test::CommandResult py = test::run_python("tasks/grn_attention_check.py", tmp / "out");
  EXPECT_EQ(py.exit_code, 0) << py.output;

  // one group alone gives the same matrix as beside the others; ranks lie in [0, 1)
  std::vector<int64_t> shape, shape1;
  const std::vector<float> both = read_npy(tmp / "out/attention.npy", &shape);
  o.compare.clear();
  o.groups = {"pert"};
  o.out_dir = tmp / "out3";
  tasks::grn_attention(o);
  const std::vector<float> one = read_npy(tmp / "out3/attention.npy", &shape1);
  ASSERT_EQ(shape1, (std::vector<int64_t>{1, 12, 12}));
  EXPECT_TRUE(std::equal(one.begin(), one.end(), both.begin() + 144));
  for (float v : both) EXPECT_TRUE(v >= 0 && v < 1) << v;
}

TEST(GrnAttention, BadInputFailsInOneLineWithNothingWritten) {
  test::TempDir tmp;
  write_cells(tmp / "cells.h5ad");
  auto fails_with = [&](tasks::GrnAttentionOptions o, const std::vector<std::string>& parts) {
    try {
      tasks::grn_attention(o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m << " lacks " << p;
    }
    EXPECT_FALSE(fs::exists(o.out_dir));
  };
  tasks::GrnAttentionOptions o = options(tmp);
  o.genes = {"GENE3", "NOPE1", "GENE4", "NOPE2"};
  fails_with(o, {"2 of the --genes are not in the model's vocabulary", "NOPE1, NOPE2"});
  o = options(tmp);
  o.groups = {"pert", "treated"};
  fails_with(o, {"treated", "no cells", "obs/condition", "ctrl, pert"});
  o = options(tmp);
  o.compare = {"pert", "ghost"};
  fails_with(o, {"ghost", "no cells"});
  o = options(tmp);
  o.group_col = "batch";
  fails_with(o, {"obs/batch"});
  o = options(tmp);
  o.model_dir = test::fixtures_dir() + "/scbench_gnn_cp";
  fails_with(o, {"gnn_cp has no self-attention"});
  o = options(tmp);
  o.attention_layer = 2;
  fails_with(o, {"layer 2 out of range", "2 encoder layers"});
  // the command line says the same and exits non-zero
  const test::CommandResult c = test::run_command(test::scfm_binary() + " grn attention --model " + scgpt_fixture() + " --in " +
                                                  (tmp / "cells.h5ad") + " --group-col condition --genes GENE1,BAD --out " +
                                                  (tmp / "cli"));
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.output.find("BAD"), std::string::npos) << c.output;
  EXPECT_FALSE(fs::exists(tmp / "cli"));
}

TEST(GrnAttention, ScBenchmarkTransformerOnPbmcSmall) {
  const test::TinyRun& run = test::tiny_pbmc_small_run();
  test::TempDir tmp;
  tasks::GrnAttentionOptions o;
  o.model_dir = run.run;
  o.input = run.cells;
  o.out_dir = tmp / "out";
  o.group_col = "groups";
  o.hvg = 30;
  o.max_cells = 10;
  const json r = tasks::grn_attention(o);
  EXPECT_EQ(r["n_genes"], 30);
  EXPECT_EQ(r["heads"], 2);
  for (const auto& g : r["groups"]) EXPECT_EQ(g["cells_used"], std::min<int64_t>(10, g["cells"].get<int64_t>()));
  // every group's 30 x 30 matrix, and each of the 30 sources' 20 targets in edges.csv
  std::vector<int64_t> shape;
  const std::vector<float> a = read_npy(tmp / "out/attention.npy", &shape);
  ASSERT_EQ(shape.size(), 3u);
  EXPECT_EQ(shape, (std::vector<int64_t>{static_cast<int64_t>(r["groups"].size()), 30, 30}));
  EXPECT_EQ(a.size(), static_cast<size_t>(shape[0] * 900));
  const std::string edges = test::read_text(tmp / "out/edges.csv");
  EXPECT_EQ(std::count(edges.begin(), edges.end(), '\n'), 1 + shape[0] * 30 * 20);

  // all 230 genes (products large enough for a threaded sgemm's bits to follow the thread count):
  // the same matrices with 1 and 2 threads, rank-normalised and softmax
  o.hvg = 0;
  o.max_cells = 3;
  o.groups = {"g1"};
  const int threads = at::get_num_threads();
  for (const char* mode : {"rank", "softmax"}) {
    o.normalize = mode;
    at::set_num_threads(1);
    o.out_dir = tmp / (std::string("one_") + mode);
    tasks::grn_attention(o);
    at::set_num_threads(2);
    o.out_dir = tmp / (std::string("two_") + mode);
    tasks::grn_attention(o);
    at::set_num_threads(threads);
    EXPECT_TRUE(test::read_text(tmp / (std::string("one_") + mode + "/attention.npy")) ==
                test::read_text(tmp / (std::string("two_") + mode + "/attention.npy")))
        << mode;
  }
}
