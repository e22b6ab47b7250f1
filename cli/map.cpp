// scfm map (not yet registered).
#include "commands.h"

namespace scfm::cli {

void add_map(CLI::App&, GlobalOptions&) {}

}  // namespace scfm::cli
