#include "scfm/tasks/uns.h"

namespace scfm::tasks {

io::Node uns_dict(const nlohmann::json& flat) {
  io::Node d = io::make_dict();
  for (const auto& [name, value] : flat.items()) {
    if (value.is_string()) d.set(name, io::make_string(value.get<std::string>()));
    else if (value.is_boolean()) d.set(name, io::make_scalar<bool>(value.get<bool>()));
    else if (value.is_number_unsigned()) d.set(name, io::make_scalar<int64_t>(static_cast<int64_t>(value.get<uint64_t>())));
    else if (value.is_number_integer()) d.set(name, io::make_scalar<int64_t>(value.get<int64_t>()));
    else if (value.is_number_float()) d.set(name, io::make_scalar<double>(value.get<double>()));
  }
  return d;
}

}  // namespace scfm::tasks
