// The pickle inside a torch.save archive (`<name>/data.pkl`), read without running any code.
//
// unpickle() is a small pickle machine (protocols 0-5 opcodes that torch.save and pickle emit
// for containers, numbers and strings) restricted to an allowlist of globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
//   torch._utils._rebuild_parameter_with_state, the typed storages torch.{Float,Double,Half,
//   BFloat16,Long,Int,Short,Char,Byte,Bool}Storage, torch.device, _codecs.encode (how protocol 2
//   stores bytes), builtins.set/frozenset/slice and torch.Size.
// Any other GLOBAL/STACK_GLOBAL, and any REDUCE/NEWOBJ/BUILD whose callable is not one of these,
// throws scfm::Error "<file>: checkpoint asks for <module>.<name>: refused ...": nothing from the
// file is ever called. This is the guarantee torch.load only gives with weights_only=True.
//
// Tensors come back as TensorRef (storage key, dtype, offset, sizes, strides); reading the
// storage bytes from the zip and building at::Tensor is model/checkpoint's job (this file has
// no LibTorch). pickle_tensors() writes the pickle torch.save writes for an OrderedDict of
// tensors, which torch.load (also with weights_only=True) reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace scfm::io {

// torch's element types, named as torch prints them ("float32", ...).
enum class TorchDType { Float32, Float64, Float16, BFloat16, Int64, Int32, Int16, Int8, UInt8, Bool };
const char* torch_dtype_name(TorchDType t);
size_t torch_dtype_size(TorchDType t);
// "FloatStorage" <-> Float32 ...
const char* torch_storage_class(TorchDType t);

struct TensorRef {
  std::string storage_key;  // record name under <archive>/data/
  TorchDType dtype = TorchDType::Float32;
  std::string device = "cpu";
  int64_t storage_numel = 0;
  int64_t offset = 0;  // in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  bool requires_grad = false;
  bool is_parameter = false;
};

struct PyValue;
using PyPtr = std::shared_ptr<PyValue>;

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Set, Tensor, Storage, Global, Device };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                // Str, Bytes, Global ("module.name"), Device
  std::vector<PyPtr> items;                     // Tuple, List, Set
  std::vector<std::pair<PyPtr, PyPtr>> dict;    // Dict, in insertion order
  bool ordered = false;                         // an OrderedDict
  TensorRef tensor;                             // Tensor, Storage (storage fields only)

  const char* kind_name() const;
  // Dict lookup by string key; nullptr when absent.
  const PyValue* get(const std::string& key) const;
};

// Runs the restricted pickle machine over `data`. `source` names the file in errors.
PyPtr unpickle(const uint8_t* data, size_t size, const std::string& source);

// The pickle torch.save(OrderedDict(tensors)) writes (protocol 2). Storage keys must be set.
std::string pickle_tensors(const std::vector<std::pair<std::string, TensorRef>>& tensors);

}  // namespace scfm::io
