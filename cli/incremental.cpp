// scfm incremental --model DIR --store S --stages N --out DIR [training flags]
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/runtime/allocator.h"
#include "scfm/tasks/incremental.h"
#include "scfm/tasks/incremental_eval.h"
#include "scfm/util/error.h"
#include "scfm/util/json_file.h"

namespace scfm::cli {

namespace {
struct IncrementalArgs {
  double lr = 5e-4, mask_ratio = 0.4, grad_clip = 0;     // scBenchmark's defaults
  int64_t epochs = 5, batch_size = 128, warmup_iters = 5000, train_maxseq = -1, log_interval = 100;
  int64_t max_steps = -1, checkpoint_every = 200;
  std::string mode = "cumulative", freeze = "none";
  bool no_mvc = false, use_weighted_sampling = false, no_baselines = false;
  int loader_threads = 2;
};
}  // namespace

void add_incremental(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("incremental",
                                 "Gene-incremental learning (scBenchmark AAAI 2026): stages of new genes, per-stage "
                                 "evaluation, naive fine-tune and train-once baselines");
  auto o = std::make_shared<tasks::IncrementalOptions>();
  auto a = std::make_shared<IncrementalArgs>();
  cmd->add_option("--model", o->model_dir, "Folder with args.json (the architecture; e.g. a pretrain run)")->required();
  cmd->add_option("--store", o->store, "Cell store (scfm ingest) on the model's vocabulary")->required();
  cmd->add_option("--out", o->out_dir, "Output folder")->required();
  cmd->add_option("--stages", o->stages.num_stages, "Stages, the base included (scBenchmark --num_stages)")
      ->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--stages-file", o->stages_file, "JSON list of gene-name lists, the base first (instead of the keyed split)");
  cmd->add_option("--mode", a->mode, "cumulative | incre_only | keep_base_id (scBenchmark's gene visibility)")
      ->capture_default_str()->check(CLI::IsMember({"cumulative", "incre_only", "keep_base_id"}));
  cmd->add_option("--base-ratio", o->stages.base_ratio, "Share of the genes in the base (--base_ratio)")->capture_default_str();
  cmd->add_option("--base-cells", o->base_cells, "Share of the training cells in stage 0 (--base_ratio_dataset)")->capture_default_str();
  cmd->add_option("--eval-ratio", o->eval_ratio, "Share of the cells held out for stage evaluation")->capture_default_str();
  cmd->add_option("--max-eval-cells", o->max_eval_cells, "At most this many held-out cells evaluated")->capture_default_str();
  cmd->add_option("--eval-mask-ratio", o->eval_mask_ratio, "Share of the genes masked in evaluation")->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer, "fresh (a new Adam per stage, the original) | carry")
      ->capture_default_str()->check(CLI::IsMember({"fresh", "carry"}));
  cmd->add_option("--freeze", a->freeze, "none | old-genes (gene-embedding rows of earlier stages fixed)")
      ->capture_default_str()->check(CLI::IsMember({"none", "old-genes"}));
  cmd->add_flag("--skip-stage0", o->skip_stage0, "The --model folder's weights are stage 0 (--load_dir --skip_stage0)");
  cmd->add_flag("--no-baselines", a->no_baselines, "Skip the naive and joint baselines");
  cmd->add_option("--importance-label", o->importance_label,
                  "Store obs column (cell type): genes ranked by F across it are held out of the base");
  cmd->add_option("--importance-group", o->importance_group, "Store obs column (dataset): one ranking per group");
  cmd->add_option("--importance-top", o->importance_top, "Top genes per ranking (--select_idxnum)")->capture_default_str();
  cmd->add_option("--keep-rank1", o->keep_rank1, "--keep_rank1")->capture_default_str();
  cmd->add_option("--keep-rank2", o->keep_rank2, "--keep_rank2")->capture_default_str();
  cmd->add_option("--epochs", a->epochs, "Epochs per stage")->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Cells per step")->capture_default_str();
  cmd->add_option("--lr", a->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--warmup-iters", a->warmup_iters, "Linear warm-up steps (stage 0 only)")->capture_default_str();
  cmd->add_option("--mask-ratio", a->mask_ratio, "Share of the genes masked in training")->capture_default_str();
  cmd->add_option("--train-maxseq", a->train_maxseq, "Genes per cell (plus <cls>; default: the model's train_maxseq)");
  cmd->add_flag("--no-mvc", a->no_mvc, "Train the MLM loss only (the original adds the MVC loss)");
  cmd->add_flag("--use-weighted-sampling", a->use_weighted_sampling, "scBenchmark's expression-weighted gene sampling");
  cmd->add_option("--grad-clip", a->grad_clip, "Clip the gradient norm (0 = off)")->capture_default_str();
  cmd->add_option("--seed", o->stages.seed, "Seed of the splits, masks and initial weights")->capture_default_str();
  cmd->add_option("--max-steps", a->max_steps, "Stop each stage after this many steps (smoke runs)");
  cmd->add_option("--checkpoint-every", a->checkpoint_every, "Steps between train_state.pt saves")->capture_default_str();
  cmd->add_option("--log-interval", a->log_interval, "Steps between metric lines")->capture_default_str();
  cmd->add_option("--loader-threads", a->loader_threads, "Tokenizer threads")->capture_default_str();
  cmd->add_option("--device", o->train.device, "cpu | cuda")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue a killed run in --out");
  cmd->callback([o, a] {
    runtime::keep_freed_memory();
    o->stages.incre_only = a->mode == "incre_only";
    o->stages.keep_base_id = a->mode == "keep_base_id";
    o->freeze_old_genes = a->freeze == "old-genes";
    o->baselines = !a->no_baselines;
    nlohmann::json args = util::read_json_file(o->model_dir + "/args.json");
    if (a->train_maxseq > 0) args["train_maxseq"] = a->train_maxseq;
    const model::InputConventions conv = model::input_conventions(args);
    const io::Vocab vocab = io::Vocab::load(o->store + "/vocab.json");
    const std::string structure = args.value("model_structure", std::string("transformer"));
    train::PretrainOptions& t = o->train;
    t.epochs = a->epochs;
    t.batch_size = a->batch_size;
    t.schedule.lr = a->lr;
    t.schedule.warmup_steps = a->warmup_iters;
    t.grad_clip = a->grad_clip;
    t.use_mvc = !a->no_mvc && (structure != "scgpt" || args.value("do_mvc", args.value("use_mvc", false)));
    t.log_interval = std::max<int64_t>(1, a->log_interval);
    t.save_interval = 0;
    t.seed = o->stages.seed;
    t.preprocess_mode = conv.binned ? "bin" : "none";
    t.n_bins = conv.n_bins;
    t.max_steps = a->max_steps;
    t.checkpoint_every = a->checkpoint_every;
    t.loader_threads = a->loader_threads;
    t.batch.tokenizer.max_len = conv.max_len;
    t.batch.tokenizer.cls_id = vocab.cls_id();
    t.batch.tokenizer.pad_id = vocab.pad_id();
    t.batch.tokenizer.cls_value = conv.cls_value;
    t.batch.tokenizer.pad_value = conv.pad_value;
    t.batch.tokenizer.use_weighted_sampling = a->use_weighted_sampling;
    t.batch.mask.mask_ratio = a->mask_ratio;
    t.batch.mask.mask_value = conv.mask_value;
    t.batch.pad_to_max_len = structure != "scgpt" && structure.rfind("transformer", 0) != 0 && structure != "gnn_cp";
    const nlohmann::json r = tasks::run_incremental(*o);
    const eval::Report rep = tasks::incremental_report(r);
    for (const auto& table : rep.tables) std::cout << table.markdown() << "\n";
    std::cout << "incremental: " << eval::cell(r["seconds"].get<double>(), 0) << " s; report " << o->out_dir << "/results.md\n";
  });
}

}  // namespace scfm::cli
