// scfm finetune-annotate (not yet registered).
#include "commands.h"

namespace scfm::cli {

void add_finetune_annotate(CLI::App&, GlobalOptions&) {}

}  // namespace scfm::cli
