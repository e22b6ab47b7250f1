#include "scfm/model/checkpoint.h"

#include <ATen/ops/empty.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/nn/module.h>

#include <cstring>
#include <fstream>
#include <map>

#include "scfm/util/atomic_file.h"
#include "scfm/io/zip_check.h"
#include "scfm/util/error.h"

namespace scfm::model {
namespace {

at::ScalarType scalar_type(io::TorchDType t) {
  switch (t) {
    case io::TorchDType::Float32: return at::kFloat;
    case io::TorchDType::Float64: return at::kDouble;
    case io::TorchDType::Float16: return at::kHalf;
    case io::TorchDType::BFloat16: return at::kBFloat16;
    case io::TorchDType::Int64: return at::kLong;
    case io::TorchDType::Int32: return at::kInt;
    case io::TorchDType::Int16: return at::kShort;
    case io::TorchDType::Int8: return at::kChar;
    case io::TorchDType::UInt8: return at::kByte;
    case io::TorchDType::Bool: return at::kBool;
  }
  return at::kFloat;
}

io::TorchDType torch_dtype(at::ScalarType t, const std::string& name) {
  switch (t) {
    case at::kFloat: return io::TorchDType::Float32;
    case at::kDouble: return io::TorchDType::Float64;
    case at::kHalf: return io::TorchDType::Float16;
    case at::kBFloat16: return io::TorchDType::BFloat16;
    case at::kLong: return io::TorchDType::Int64;
    case at::kInt: return io::TorchDType::Int32;
    case at::kShort: return io::TorchDType::Int16;
    case at::kChar: return io::TorchDType::Int8;
    case at::kByte: return io::TorchDType::UInt8;
    case at::kBool: return io::TorchDType::Bool;
    default: break;
  }
  throw Error("tensor '" + name + "' has a dtype scfm cannot save");
}

void check_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "file", "cannot open");
  char magic[4] = {0};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "PK\x03\x04", 4) == 0) return;
  if (in.gcount() >= 2 && static_cast<unsigned char>(magic[0]) == 0x80)
    throw FormatError(path, "format",
                      "a legacy (PyTorch < 1.6, non-zip) checkpoint; re-save it with a newer PyTorch: "
                      "python3 -c \"import torch; torch.save(torch.load('" + path + "'), 'new.pt')\"");
  throw FormatError(path, "format", "not a torch.save archive (expected a zip file starting with PK)");
}

// A tensor's view must lie inside its storage: sizes, strides and offset non-negative, the last
// element (offset + sum (size_i - 1) stride_i) inside, without overflow. LibTorch checks some of
// this itself, by throwing c10::Error; here it is a clean FormatError naming the record.
void check_view(const io::TensorRef& t, const std::string& path) {
  const std::string where = "data/" + t.storage_key;
  if (t.sizes.size() != t.strides.size())
    throw FormatError(path, where, "tensor with " + std::to_string(t.sizes.size()) + " sizes and " +
                                       std::to_string(t.strides.size()) + " strides");
  if (t.sizes.size() > 64) throw FormatError(path, where, "tensor of " + std::to_string(t.sizes.size()) + " dimensions: refused");
  if (t.offset < 0) throw FormatError(path, where, "negative storage offset");
  bool empty = false;
  for (size_t k = 0; k < t.sizes.size(); ++k) {
    if (t.sizes[k] < 0 || t.strides[k] < 0) throw FormatError(path, where, "negative size or stride");
    empty = empty || t.sizes[k] == 0;
  }
  if (empty) return;
  __int128 last = t.offset;
  for (size_t k = 0; k < t.sizes.size(); ++k) {
    last += static_cast<__int128>(t.sizes[k] - 1) * t.strides[k];
    if (last >= t.storage_numel) break;
  }
  if (last >= t.storage_numel)
    throw FormatError(path, where, "tensor view reaches past its storage of " + std::to_string(t.storage_numel) + " elements");
}

// Replaces storage keys in the tree by tensor indices while building the tensors.
void collect(io::PyValue& v, caffe2::serialize::PyTorchStreamReader& reader, const std::string& path,
             std::map<std::string, at::Tensor>& storages, std::vector<at::Tensor>& tensors) {
  if (v.kind == io::PyValue::Kind::Tensor) {
    io::TensorRef& t = v.tensor;
    if (t.device.rfind("cpu", 0) != 0 && t.device.rfind("cuda", 0) != 0)
      throw FormatError(path, "data/" + t.storage_key, "tensor on device '" + t.device + "': unsupported");
    auto it = storages.find(t.storage_key);
    if (it == storages.end()) {
      const std::string record = "data/" + t.storage_key;
      if (!reader.hasRecord(record)) throw FormatError(path, record, "missing from the archive");
      at::DataPtr data;
      size_t size = 0;
      std::tie(data, size) = reader.getRecord(record);
      const size_t dsize = io::torch_dtype_size(t.dtype);
      if (t.storage_numel < 0 || static_cast<uint64_t>(t.storage_numel) > (uint64_t(1) << 62) / dsize)
        throw FormatError(path, record, "storage of " + std::to_string(t.storage_numel) + " elements: refused");
      const size_t want = static_cast<size_t>(t.storage_numel) * dsize;
      if (size != want)
        throw FormatError(path, record, "holds " + std::to_string(size) + " bytes; the pickle says " +
                                            std::to_string(t.storage_numel) + " x " + io::torch_dtype_name(t.dtype) +
                                            " = " + std::to_string(want));
      at::Tensor flat = at::empty({t.storage_numel}, at::TensorOptions().dtype(scalar_type(t.dtype)));
      if (size > 0) std::memcpy(flat.data_ptr(), data.get(), size);
      it = storages.emplace(t.storage_key, flat).first;
    }
    check_view(t, path);
    at::Tensor view = it->second.as_strided(t.sizes, t.strides, t.offset);
    t.storage_key = std::to_string(tensors.size());
    tensors.push_back(view);
    return;
  }
  for (auto& x : v.items) collect(*x, reader, path, storages, tensors);
  for (auto& [k, x] : v.dict) {
    collect(*k, reader, path, storages, tensors);
    collect(*x, reader, path, storages, tensors);
  }
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  check_zip(path);
  io::check_torch_zip(path);  // before LibTorch's reader: no compressed records, no sizes past the file
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception& e) {
    throw FormatError(path, "zip", std::string("not a readable torch.save archive: ") + e.what());
  }
  if (reader->hasRecord("byteorder")) {
    at::DataPtr bo;
    size_t n = 0;
    std::tie(bo, n) = reader->getRecord("byteorder");
    std::string order(static_cast<const char*>(bo.get()), n);
    if (order != "little") throw FormatError(path, "byteorder", "'" + order + "' byte order: only little-endian files are supported");
  }
  if (!reader->hasRecord("data.pkl")) throw FormatError(path, "data.pkl", "missing; not a torch.save archive");
  at::DataPtr pkl;
  size_t n = 0;
  std::tie(pkl, n) = reader->getRecord("data.pkl");
  Checkpoint ck;
  ck.root = io::unpickle(static_cast<const uint8_t*>(pkl.get()), n, path);
  std::map<std::string, at::Tensor> storages;
  collect(*ck.root, *reader, path, storages, ck.tensors);
  return ck;
}

static StateDict tensor_entries(const Checkpoint& ck, const std::string& path, bool strict) {
  if (ck.root->kind != io::PyValue::Kind::Dict)
    throw FormatError(path, "data.pkl", std::string("holds a ") + ck.root->kind_name() + "; expected a dict of tensors");
  StateDict out;
  for (auto& [k, v] : ck.root->dict) {
    if (k->kind != io::PyValue::Kind::Str) {
      if (strict) throw FormatError(path, "data.pkl", "a key is a " + std::string(k->kind_name()) + ", not a string");
      continue;
    }
    if (v->kind != io::PyValue::Kind::Tensor) {
      if (strict) throw FormatError(path, k->s, std::string("is a ") + v->kind_name() + ", not a tensor");
      continue;
    }
    out.emplace_back(k->s, ck.tensors.at(std::stoul(v->tensor.storage_key)));
  }
  return out;
}

StateDict load_state_dict(const std::string& path, const LoadOptions& options) {
  Checkpoint ck = load_checkpoint(path);
  StateDict sd = tensor_entries(ck, path, true);
  if (options.strip_ddp_prefix && !sd.empty()) {
    bool all = true;
    for (auto& kv : sd) all = all && kv.first.rfind("module.", 0) == 0;
    if (all)
      for (auto& kv : sd) kv.first = kv.first.substr(7);
  }
  return sd;
}

StateDict load_tensor_dict(const std::string& path) { return tensor_entries(load_checkpoint(path), path, false); }

const at::Tensor* find(const StateDict& state, const std::string& name) {
  for (auto& kv : state)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

void save_state_dict(const StateDict& state, const std::string& path) {
  std::vector<std::pair<std::string, io::TensorRef>> refs;
  std::vector<at::Tensor> storages;
  for (auto& [name, tensor] : state) {
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    io::TensorRef r;
    r.storage_key = std::to_string(storages.size());
    r.dtype = torch_dtype(t.scalar_type(), name);
    r.storage_numel = t.numel();
    r.sizes = t.sizes().vec();
    r.strides = t.strides().vec();
    refs.emplace_back(name, r);
    storages.push_back(t);
  }
  const std::string pickle = io::pickle_tensors(refs);
  util::AtomicPath out(path);
  {
    std::ofstream file(out.temp(), std::ios::binary);
    if (!file) throw Error(path + ": cannot create " + out.temp());
    // A failed write is noted here, not reported to LibTorch: its writer throws from the failing
    // record and then again from its destructor (which finishes the file), and the second throw
    // ends the process (std::terminate). The stream stays failed, so the check below sees it.
    caffe2::serialize::PyTorchStreamWriter writer([&file](const void* buf, size_t n) -> size_t {
      if (file) file.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
      return n;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeRecord("byteorder", "little", 6);
    for (size_t i = 0; i < storages.size(); ++i)
      writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(),
                         static_cast<size_t>(storages[i].numel()) * storages[i].element_size());
    writer.writeEndOfFile();
    file.flush();
    if (!file) throw Error(path + ": write failed (disk full?); the file there before, if any, is untouched");
  }
  out.commit();
}

static void collect(const torch::nn::Module& m, const std::string& prefix, StateDict& out) {
  for (const auto& p : m.named_parameters(false))
    if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value().detach());
  for (const auto& b : m.named_buffers(false))
    if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value().detach());
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

StateDict module_state(const torch::nn::Module& module) {
  StateDict out;
  collect(module, "", out);
  return out;
}

}  // namespace scfm::model
