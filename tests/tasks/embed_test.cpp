// scfm embed's cell vectors (--pool): the gene-token mean is the mean of the encoder's outputs
// over a cell's gene tokens alone (computed here from the model's own forward on that cell, with
// no batch companions and no pads), cls is the <cls> output, model the model's cell embedding;
// backbones without per-token outputs refuse mean and cls.
#include <gtest/gtest.h>

#include <ATen/ops/slice.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>

#include "scfm/eval/dataset.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/tasks/embed.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;

namespace {

const test::TinyRun& setup() { return test::tiny_pbmc_small_run(); }

eval::Embedded embed_with(const std::string& out, const std::string& pool, int64_t batch) {
  tasks::EmbedOptions o;
  o.model_dir = setup().run;
  o.input = setup().cells;
  o.output = out;
  o.pool = pool;
  o.batch_size = batch;
  o.max_length = 41;  // most pbmc_small cells have more genes: the top 40 are kept
  tasks::embed(o);
  return eval::read_embedded(out, "X_scfm", "");
}

}  // namespace

TEST(EmbedPool, MeanIsTheGeneTokensMeanOfEachCellAloneAndClsIsTheClsOutput) {
  test::TempDir out;
  // batches of 7: cells of different lengths share a batch, so most are padded
  const eval::Embedded mean = embed_with(out / "mean.h5ad", "mean", 7);
  const eval::Embedded cls = embed_with(out / "cls.h5ad", "cls", 7);
  const eval::Embedded model = embed_with(out / "model.h5ad", "model", 7);
  const eval::Embedded autod = embed_with(out / "auto.h5ad", "auto", 7);
  ASSERT_EQ(mean.n, 80);
  ASSERT_EQ(mean.dim, 16);
  EXPECT_EQ(autod.x, mean.x);   // auto = mean for a per-token backbone
  EXPECT_EQ(model.x, cls.x);    // this model's cell_emb_style is cls

  // the reference: each cell alone through the model, then the plain mean of positions 1..T-1
  auto m = model::load_pretrain_model(setup().run);
  m->module().eval();
  torch::NoGradGuard no_grad;
  io::Vocab vocab = io::Vocab::load(setup().run + "/vocab.json");
  io::AnnData ad = io::read_h5ad(setup().cells);
  io::GeneMatch match = io::match_genes(vocab, ad, "");
  io::CsrMatrix x = ad.matrix_csr();
  tasks::CellInput input(vocab, model::input_conventions(m->args()), match.var_to_id, 41, false, 0);
  double worst_mean = 0, worst_cls = 0, spread = 0;
  for (int64_t i = 0; i < 80; ++i) {
    tasks::CellTokens tok = input.tokens(x, {i}, {i});
    ASSERT_FALSE(tok.padding.any().item<bool>());  // alone: no pads
    const at::Tensor h = m->forward(tok.genes, tok.values, tok.padding).tokens;
    const at::Tensor want_mean = h[0].slice(0, 1).mean(0);
    const at::Tensor want_cls = h[0][0];
    for (int64_t e = 0; e < 16; ++e) {
      worst_mean = std::max(worst_mean, std::abs(double(mean.x[i * 16 + e]) - want_mean[e].item<double>()));
      worst_cls = std::max(worst_cls, std::abs(double(cls.x[i * 16 + e]) - want_cls[e].item<double>()));
      spread = std::max(spread, std::abs(double(mean.x[i * 16 + e]) - double(mean.x[e])));
    }
  }
  EXPECT_LT(worst_mean, 1e-5);
  EXPECT_LT(worst_cls, 1e-5);
  EXPECT_GT(spread, 1e-3);  // cells differ: a mean that ignored the cell would fail above anyway
}

TEST(EmbedPool, MeanDoesNotDependOnTheBatch) {
  test::TempDir out;
  const eval::Embedded a = embed_with(out / "a.h5ad", "mean", 1);
  const eval::Embedded b = embed_with(out / "b.h5ad", "mean", 64);
  ASSERT_EQ(a.x.size(), b.x.size());
  double worst = 0;
  for (size_t k = 0; k < a.x.size(); ++k) worst = std::max(worst, std::abs(double(a.x[k]) - double(b.x[k])));
  EXPECT_LT(worst, 1e-5);
  const io::AnnData ad = io::read_h5ad(out / "a.h5ad", {0});
  const io::Node* s = ad.root.child("uns")->child("scfm_embed_X_scfm");
  ASSERT_NE(s, nullptr);
  ASSERT_NE(s->child("pool"), nullptr);
  EXPECT_EQ(s->child("pool")->data.strings.at(0), "mean");
}

TEST(EmbedPool, PooledBackbonesRefuseTokenPools) {
  EXPECT_EQ(tasks::resolve_pool("auto", true, "transformer"), "mean");
  EXPECT_EQ(tasks::resolve_pool("auto", false, "cnn_base"), "model");
  EXPECT_EQ(tasks::resolve_pool("cls", true, "gnn_cp"), "cls");
  for (const char* p : {"mean", "cls"}) {
    try {
      tasks::resolve_pool(p, false, "linear_ours");
      ADD_FAILURE() << p << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("linear_ours"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--pool model"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(tasks::resolve_pool("max", true, "transformer"), Error);
}
