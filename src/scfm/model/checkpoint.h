// Checkpoints in torch.save's format, both ways, without running code from files.
//
// load_* read the zip archive torch.save writes (<name>/data.pkl, <name>/data/<key>,
// <name>/version, optional <name>/byteorder) through LibTorch's own zip reader, run the pickle in
// io::unpickle (allowlisted: a checkpoint that asks for anything but tensors and containers is
// refused with the global it asked for), and rebuild tensors on the CPU, sharing storage where
// the file shares it. Legacy pre-1.6 (non-zip) checkpoints get an error saying how to re-save them.
//
// save_state_dict writes an OrderedDict of tensors that python3-torch's torch.load (also with
// weights_only=True) reads back with the same names, order, dtypes and values. It writes to a
// temporary file and renames it: a crash never leaves a half-written checkpoint.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "scfm/io/torch_pickle.h"

namespace torch::nn {
class Module;
}

namespace scfm::model {

// Tensors by name, in file order.
using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

struct LoadOptions {
  // Drop the "module." prefix DistributedDataParallel puts on every key (when all keys have it).
  bool strip_ddp_prefix = true;
};

// The unpickled object and its tensors; `root` refers to tensors by their position in `tensors`
// (TensorRef::storage_key is replaced by the index as a string).
struct Checkpoint {
  io::PyPtr root;
  std::vector<at::Tensor> tensors;
};

Checkpoint load_checkpoint(const std::string& path);
// A state dict (an OrderedDict or dict of tensors; non-tensor entries are an error naming them).
StateDict load_state_dict(const std::string& path, const LoadOptions& options = {});
// Every tensor entry of a top-level dict (for files like a fixture's io.pt); other entries skipped.
StateDict load_tensor_dict(const std::string& path);

void save_state_dict(const StateDict& state, const std::string& path);

const at::Tensor* find(const StateDict& state, const std::string& name);

// A module's parameters and buffers in PyTorch's state_dict order (each module's own parameters,
// then its own buffers, then its children, recursively), undefined ones skipped. The tensors are
// detached views of the module's own storage: copying into them loads weights.
StateDict module_state(const torch::nn::Module& module);

}  // namespace scfm::model
