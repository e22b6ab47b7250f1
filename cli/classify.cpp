// scfm classify (not yet registered).
#include "commands.h"

namespace scfm::cli {

void add_classify(CLI::App&, GlobalOptions&) {}

}  // namespace scfm::cli
