// GEARS's data conventions for perturbation data (gears/pertdata.py, gears/data_utils.py):
// condition names and the seeded "simulation" split of perturbations into train / val / test.
//
// Conditions: "ctrl" (control cells), "A+ctrl" or "ctrl+A" (gene A perturbed), "A+B" (both).
// Anything else (empty parts, three parts, "ctrl+ctrl", "A+A") is refused.
//
// The split is GEARS's DataSplitter(split_type="simulation") step for step, with numpy's legacy
// RandomState (data/random.h: np.random.seed, np.random.choice without replacement) so that
// the same condition list and seed give GEARS's own train / val / test perturbations:
//   genes = sorted unique perturbed genes; train genes = choice(genes, int(n * train_gene_frac));
//   train  = singles of train genes, and a random int(n * combo_seen2_train_frac) of the combos
//            whose two genes are both train genes (choice after a re-seed);
//   test   = combo_seen1 (one gene seen), the remaining combo_seen2, unseen singles, combo_seen0;
// then the same function on the train list with 0.9 / 0.9 makes val. Control stays in train.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scfm::eval {

// One parsed condition. genes: 0 (control), 1 (single) or 2 (combination) gene names, in the
// order written.
struct Condition {
  std::vector<std::string> genes;
  bool control() const { return genes.empty(); }
  bool combo() const { return genes.size() == 2; }
};

// Throws FormatError(source, field, ...) naming the value and the accepted forms.
Condition parse_condition(const std::string& name, const std::string& source = "condition",
                          const std::string& field = "obs/condition");

struct GearsSplitOptions {
  double train_gene_frac = 0.75;      // GEARS's prepare_split default train_gene_set_size
  double combo_seen2_train_frac = 0.75;
  uint32_t seed = 1;                  // GEARS's default split seed
};

struct GearsSplit {
  std::vector<std::string> train, val, test;  // perturbed conditions (control is in train)
  // Subgroups of test (and of val, with the prefix "val_"): unseen_single, combo_seen0,
  // combo_seen1, combo_seen2.
  std::vector<std::pair<std::string, std::vector<std::string>>> subgroups;
  nlohmann::json to_json() const;
};

// conditions: the distinct conditions in order of first appearance in obs (pandas' unique()),
// control included or not. Throws scfm::Error when fewer than 2 perturbed genes exist.
GearsSplit gears_simulation_split(const std::vector<std::string>& conditions, const GearsSplitOptions& options = {});

}  // namespace scfm::eval
