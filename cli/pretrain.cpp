// scfm pretrain --store STORE --out RUN --model-structure S [scBenchmark's and scGPT's flags]
//
// One process, or one rank of many when started by `scfm launch` / torchrun (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT in the environment).
#include <ATen/Context.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "scfm/runtime/allocator.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/store/reader.h"
#include "scfm/train/distributed.h"
#include "scfm/train/trainer.h"
#include "scfm/util/error.h"

namespace scfm::cli {

namespace {
struct PretrainArgs {
  std::string store, out, valid_store, config, structure = "transformer", scheduler = "warmup-constant";
  std::string cell_emb_style = "cls", input_emb_style = "continuous", device = "cpu";
  double valid_ratio = 0.1, lr = 2e-4, dropout = 0.15, mask_ratio = 0.4, grad_clip = 0;
  int64_t epochs = 10, batch_size = 128, nlayers = 6, nheads = 8, embsize = 256, d_hid = 512, n_layers_cls = 3;
  int64_t train_maxseq = 512, test_maxseq = 512, warmup_iters = 10000, n_bins = 51, save_interval = 1;
  int64_t log_interval = 500, grad_accu_steps = 1, max_steps = -1, checkpoint_every = 0, step_size = 1;
  uint64_t seed = 0;
  std::string preprocess_mode = "none";
  bool use_weighted_sampling = false, use_mvc = false, explicit_zero_prob = false, resume = false, amp = false;
  std::string on_nonfinite = "stop";
  int loader_threads = 2, dist_timeout_s = 300;
};
}  // namespace

void add_pretrain(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("pretrain", "Pretrain a masked-expression model on a cell store (one process or many)");
  auto a = std::make_shared<PretrainArgs>();
  cmd->add_option("--store", a->store, "Cell store to train on (scfm ingest)")->required();
  cmd->add_option("--out", a->out, "Run folder (also a scGPT-style checkpoint folder)")->required();
  cmd->add_option("--valid-store", a->valid_store, "Cell store to validate on");
  cmd->add_option("--valid-ratio", a->valid_ratio, "Fraction of --store held out when no --valid-store")->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--model-structure", a->structure, "transformer|gnn_cp|cnn_base|cnn_ours|linear_ours|linear_base|scgpt");
  cmd->add_option("--config", a->config, "args.json with the model's keys (flags given explicitly override it)");
  cmd->add_option("--epochs", a->epochs, "scBenchmark --epochs");
  cmd->add_option("--batch-size", a->batch_size, "Global batch size (split over the processes)");
  cmd->add_option("--lr", a->lr, "Peak learning rate");
  cmd->add_option("--nlayers", a->nlayers, "Encoder layers");
  cmd->add_option("--nheads", a->nheads, "Attention heads");
  cmd->add_option("--embsize", a->embsize, "Embedding width");
  cmd->add_option("--dropout", a->dropout, "Dropout");
  cmd->add_option("--train-maxseq", a->train_maxseq, "Genes per training cell (plus <cls>)");
  cmd->add_option("--test-maxseq", a->test_maxseq, "Genes per validation cell (plus <cls>)");
  cmd->add_option("--mask-ratio", a->mask_ratio, "Fraction of genes masked");
  cmd->add_option("--warmup-iters", a->warmup_iters, "Linear warmup steps");
  cmd->add_option("--preprocess-mode", a->preprocess_mode, "none (log1p of normalised counts) | bin");
  cmd->add_option("--n-bins", a->n_bins, "Bins for --preprocess-mode bin / scGPT category input");
  cmd->add_flag("--use-weighted-sampling", a->use_weighted_sampling, "scBenchmark's expression-weighted gene sampling");
  cmd->add_flag("--use-mvc", a->use_mvc, "Add the MVC head's loss (required for cnn_*, linear_ours)");
  cmd->add_option("--cell-emb-style", a->cell_emb_style, "cls | avg-pool (| w-pool for scgpt)");
  cmd->add_option("--save-interval", a->save_interval, "Epochs between model-ep{N}.pt");
  cmd->add_option("--log-interval", a->log_interval, "Steps between metric lines");
  cmd->add_option("--seed", a->seed, "Seed of every random choice");
  cmd->add_option("--d-hid", a->d_hid, "scGPT feed-forward width");
  cmd->add_option("--n-layers-cls", a->n_layers_cls, "scGPT classifier layers");
  cmd->add_option("--input-emb-style", a->input_emb_style, "scGPT value encoder: continuous | category | scaling");
  cmd->add_flag("--explicit-zero-prob", a->explicit_zero_prob, "scGPT explicit zero probability (+ Bernoulli loss)");
  cmd->add_option("--scheduler", a->scheduler, "warmup-constant (scBenchmark) | cosine | step (scGPT)");
  cmd->add_option("--step-size", a->step_size, "StepLR step size in steps (--scheduler step)");
  cmd->add_option("--grad-clip", a->grad_clip, "Clip the gradient norm (0 = off; scGPT uses 1.0)");
  cmd->add_option("--grad-accu-steps", a->grad_accu_steps, "Micro-batches of --batch-size cells accumulated per optimiser step (scGPT's meaning)");
  cmd->add_flag("--resume", a->resume, "Continue exactly from RUN/train_state.pt");
  cmd->add_option("--max-steps", a->max_steps, "Stop after this many optimiser steps (resumable)");
  cmd->add_option("--checkpoint-every", a->checkpoint_every, "Steps between train_state.pt saves (0: epoch ends)");
  cmd->add_option("--loader-threads", a->loader_threads, "Tokenizer threads per process");
  cmd->add_option("--device", a->device, "cpu | cuda");
  cmd->add_flag("--amp", a->amp, "Mixed precision (CUDA)");
  cmd->add_option("--on-nonfinite", a->on_nonfinite, "stop | skip: a step with a NaN/Inf loss or gradient (reported with the parameter)")
      ->check(CLI::IsMember({"stop", "skip"}));
  cmd->add_option("--dist-timeout", a->dist_timeout_s, "Seconds a rank waits for the others before failing");
  cmd->callback([a, cmd] {
    runtime::keep_freed_memory();
    if (a->device != "cpu" && !at::hasCUDA())
      throw Error("pretrain: --device " + a->device + ": this LibTorch has no CUDA (Debian's is CPU-only); build "
                  "scfm against a CUDA LibTorch (README) or use --device cpu");
    if (a->amp && a->device == "cpu") throw Error("pretrain: --amp needs --device cuda");
    nlohmann::json args = nlohmann::json::object();
    if (!a->config.empty()) {
      std::ifstream in(a->config);
      if (!in) throw FormatError(a->config, "file", "cannot open");
      try {
        args = nlohmann::json::parse(in);
      } catch (const std::exception& e) {
        throw FormatError(a->config, "json", e.what());
      }
    }
    auto set = [&](const char* flag, const char* key, const nlohmann::json& v) {
      if (cmd->count(flag) > 0 || !args.contains(key)) args[key] = v;
    };
    set("--model-structure", "model_structure", a->structure);
    set("--nlayers", "nlayers", a->nlayers);
    set("--nheads", "nheads", a->nheads);
    set("--embsize", "embsize", a->embsize);
    set("--dropout", "dropout", a->dropout);
    set("--cell-emb-style", "cell_emb_style", a->cell_emb_style);
    set("--train-maxseq", "train_maxseq", a->train_maxseq);
    set("--d-hid", "d_hid", a->d_hid);
    set("--n-layers-cls", "n_layers_cls", a->n_layers_cls);
    set("--input-emb-style", "input_emb_style", a->input_emb_style);
    set("--explicit-zero-prob", "explicit_zero_prob", a->explicit_zero_prob);
    set("--n-bins", "n_bins", a->n_bins);
    set("--preprocess-mode", "preprocess_mode", a->preprocess_mode);
    set("--use-mvc", "use_mvc", a->use_mvc);
    if (args.value("input_emb_style", std::string()) == "category" && args.value("model_structure", "") == "scgpt") {
      // scGPT's category input: values are bins; pad = n_bins, mask = n_bins + 1 (examples/pretrain.py)
      args["preprocess_mode"] = "bin";
      if (!args.contains("pad_value") || cmd->count("--n-bins") > 0) args["pad_value"] = a->n_bins;
      if (!args.contains("mask_value") || cmd->count("--n-bins") > 0) args["mask_value"] = a->n_bins + 1;
    }

    auto env = train::dist_env_from_environment();
    std::unique_ptr<train::Distributed> dist;
    if (env.active()) dist = train::Distributed::init(env, std::chrono::seconds(a->dist_timeout_s), a->device != "cpu");
    auto store = store::CellStore::open(a->store);
    std::unique_ptr<store::CellStore> valid;
    if (!a->valid_store.empty()) valid = std::make_unique<store::CellStore>(store::CellStore::open(a->valid_store));
    io::Vocab vocab = io::Vocab::load(a->store + "/vocab.json");
    at::manual_seed(a->seed);  // the initial weights follow the run's seed
    auto model = model::make_pretrain_model(args, vocab);
    auto conv = model::input_conventions(model->args());

    train::PretrainOptions o;
    o.out_dir = a->out;
    o.epochs = a->epochs;
    o.batch_size = a->batch_size;
    o.grad_accu_steps = a->grad_accu_steps;
    o.schedule.kind = train::parse_schedule(a->scheduler);
    o.schedule.lr = a->lr;
    o.schedule.warmup_steps = a->warmup_iters;
    o.schedule.step_size = a->step_size;
    o.grad_clip = a->grad_clip;
    o.use_mvc = a->use_mvc;
    o.zero_prob_loss = a->explicit_zero_prob;
    o.log_interval = std::max<int64_t>(1, a->log_interval);
    o.save_interval = a->save_interval;
    o.seed = a->seed;
    o.preprocess_mode = conv.binned ? "bin" : a->preprocess_mode;
    o.n_bins = conv.n_bins;
    o.valid_ratio = a->valid_ratio;
    o.max_steps = a->max_steps;
    o.checkpoint_every = a->checkpoint_every;
    o.resume = a->resume;
    o.loader_threads = a->loader_threads;
    o.device = a->device;
    o.amp = a->amp;
    o.on_nonfinite = a->on_nonfinite;
    o.batch.tokenizer.max_len = conv.max_len;
    o.batch.tokenizer.cls_id = vocab.cls_id();
    o.batch.tokenizer.pad_id = vocab.pad_id();
    o.batch.tokenizer.cls_value = conv.cls_value;
    o.batch.tokenizer.pad_value = conv.pad_value;
    o.batch.tokenizer.use_weighted_sampling = a->use_weighted_sampling;
    o.batch.mask.mask_ratio = a->mask_ratio;
    o.batch.mask.mask_value = conv.mask_value;
    o.batch.pad_to_max_len = args.value("model_structure", "") != "scgpt" &&
                             args.value("model_structure", "").rfind("transformer", 0) != 0 &&
                             args.value("model_structure", "") != "gnn_cp";
    // steps per epoch for cosine
    const int64_t per_step = a->batch_size * std::max<int64_t>(1, a->grad_accu_steps);
    o.schedule.total_steps = a->epochs * ((store.n_cells() + per_step - 1) / per_step);
    train::PretrainResult r = train::pretrain(*model, store, valid.get(), vocab, o, dist.get());
    if (!dist || dist->rank() == 0)
      std::cout << "pretrain: " << r.steps << " steps; last validation " << r.last_validation.dump() << "\n";
  });
}

}  // namespace scfm::cli
