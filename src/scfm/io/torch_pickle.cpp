#include "scfm/io/torch_pickle.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "scfm/util/error.h"

namespace scfm::io {

const char* torch_dtype_name(TorchDType t) {
  switch (t) {
    case TorchDType::Float32: return "float32";
    case TorchDType::Float64: return "float64";
    case TorchDType::Float16: return "float16";
    case TorchDType::BFloat16: return "bfloat16";
    case TorchDType::Int64: return "int64";
    case TorchDType::Int32: return "int32";
    case TorchDType::Int16: return "int16";
    case TorchDType::Int8: return "int8";
    case TorchDType::UInt8: return "uint8";
    case TorchDType::Bool: return "bool";
  }
  return "?";
}

size_t torch_dtype_size(TorchDType t) {
  switch (t) {
    case TorchDType::Float64: case TorchDType::Int64: return 8;
    case TorchDType::Float32: case TorchDType::Int32: return 4;
    case TorchDType::Float16: case TorchDType::BFloat16: case TorchDType::Int16: return 2;
    default: return 1;
  }
}

namespace {
struct StorageClass {
  const char* name;
  TorchDType dtype;
};
const StorageClass kStorages[] = {
    {"FloatStorage", TorchDType::Float32}, {"DoubleStorage", TorchDType::Float64},
    {"HalfStorage", TorchDType::Float16},  {"BFloat16Storage", TorchDType::BFloat16},
    {"LongStorage", TorchDType::Int64},    {"IntStorage", TorchDType::Int32},
    {"ShortStorage", TorchDType::Int16},   {"CharStorage", TorchDType::Int8},
    {"ByteStorage", TorchDType::UInt8},    {"BoolStorage", TorchDType::Bool},
};
}  // namespace

const char* torch_storage_class(TorchDType t) {
  for (auto& s : kStorages)
    if (s.dtype == t) return s.name;
  return "?";
}

const char* PyValue::kind_name() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return ordered ? "OrderedDict" : "dict";
    case Kind::Set: return "set";
    case Kind::Tensor: return "Tensor";
    case Kind::Storage: return "Storage";
    case Kind::Global: return "global";
    case Kind::Device: return "device";
  }
  return "?";
}

const PyValue* PyValue::get(const std::string& key) const {
  for (auto& [k, v] : dict)
    if (k->kind == Kind::Str && k->s == key) return v.get();
  return nullptr;
}

namespace {

PyPtr make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}
PyPtr make_int(int64_t i) {
  auto v = make(PyValue::Kind::Int);
  v->i = i;
  return v;
}
PyPtr make_str(std::string s, PyValue::Kind k = PyValue::Kind::Str) {
  auto v = make(k);
  v->s = std::move(s);
  return v;
}

bool allowed_global(const std::string& name) {
  static const char* const allowed[] = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state", "torch.device", "_codecs.encode", "builtins.set",
      "builtins.frozenset", "__builtin__.set", "torch.Size"};
  for (const char* a : allowed)
    if (name == a) return true;
  if (name.rfind("torch.", 0) == 0)
    for (auto& s : kStorages)
      if (name == std::string("torch.") + s.name) return true;
  return false;
}

// Limits on what a pickle may build (a state dict of 10,000 tensors is ~20,000 objects, 3 deep).
constexpr int kMaxDepth = 256;
constexpr int64_t kMaxObjects = 1'000'000;

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, std::string source) : p_(data), end_(data + size), source_(std::move(source)) {}
  // The graph a hostile pickle builds may be a million levels deep, cyclic (a list appended to
  // itself) or exponentially shared (a "billion laughs"); shared_ptr's recursive destructor would
  // overflow the stack on the first. Everything the machine holds is taken apart iteratively; the
  // caller gets a checked copy (see checked_copy).
  ~Machine() {
    std::vector<PyPtr> work(stack_.begin(), stack_.end());
    for (auto& [k, v] : memo_) work.push_back(v);
    work.insert(work.end(), dropped_.begin(), dropped_.end());
    stack_.clear();
    memo_.clear();
    dropped_.clear();
    while (!work.empty()) {
      PyPtr v = std::move(work.back());
      work.pop_back();
      if (!v) continue;
      for (auto& x : v->items) work.push_back(std::move(x));
      for (auto& [k, x] : v->dict) {
        work.push_back(std::move(k));
        work.push_back(std::move(x));
      }
      v->items.clear();
      v->dict.clear();
    }
  }

  PyPtr run() {
    while (true) {
      uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;           // PROTO
        case 0x95: bytes(8); break;         // FRAME
        case '.':                           // STOP
          if (stack_.empty()) fail("STOP with an empty stack");
          return checked_copy(stack_.back());
        case 'N': push(make(PyValue::Kind::None)); break;
        case 0x88: push(make_bool(true)); break;
        case 0x89: push(make_bool(false)); break;
        case 'J': { int32_t v; std::memcpy(&v, bytes(4), 4); push(make_int(v)); break; }
        case 'K': push(make_int(byte())); break;
        case 'M': { uint16_t v; std::memcpy(&v, bytes(2), 2); push(make_int(v)); break; }
        case 0x8a: push(make_int(long_bytes(byte()))); break;                // LONG1
        case 0x8b: push(make_int(long_bytes(u32()))); break;                 // LONG4
        case 'I': push(text_int(line())); break;
        case 'L': { std::string l = line(); if (!l.empty() && l.back() == 'L') l.pop_back(); push(make_int(parse_int(l))); break; }
        case 'G': {                                                          // BINFLOAT, big-endian
          const uint8_t* b = bytes(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];
          double d;
          std::memcpy(&d, &u, 8);
          auto v = make(PyValue::Kind::Float);
          v->f = d;
          push(v);
          break;
        }
        case 'F': { auto v = make(PyValue::Kind::Float); v->f = std::strtod(line().c_str(), nullptr); push(v); break; }
        case 'X': push(make_str(str(u32()))); break;
        case 0x8c: push(make_str(str(byte()))); break;
        case 0x8d: push(make_str(str(u64()))); break;
        case 'V': push(make_str(line())); break;
        case 'T': push(make_str(str(u32()))); break;
        case 'U': push(make_str(str(byte()))); break;
        case 'B': push(make_str(str(u32()), PyValue::Kind::Bytes)); break;
        case 'C': push(make_str(str(byte()), PyValue::Kind::Bytes)); break;
        case 0x8e: case 0x96: push(make_str(str(u64()), PyValue::Kind::Bytes)); break;
        case ']': push(make(PyValue::Kind::List)); break;
        case '}': push(make(PyValue::Kind::Dict)); break;
        case ')': push(make(PyValue::Kind::Tuple)); break;
        case 0x8f: push(make(PyValue::Kind::Set)); break;
        case '(':
          if (marks_.size() > (1u << 18)) fail("pickle sets more than 262,144 MARKs: refused");
          marks_.push_back(stack_.size());
          break;
        case 't': { auto v = make(PyValue::Kind::Tuple); v->items = pop_mark(); push(v); break; }
        case 0x85: case 0x86: case 0x87: {
          size_t n = op - 0x84;
          auto v = make(PyValue::Kind::Tuple);
          if (stack_.size() < n || (!marks_.empty() && stack_.size() - marks_.back() < n))
            fail("tuple of " + std::to_string(n) + " with a short stack");
          v->items.assign(stack_.end() - static_cast<long>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(v);
          break;
        }
        case 'l': { auto v = make(PyValue::Kind::List); v->items = pop_mark(); push(v); break; }
        case 'd': { auto v = make(PyValue::Kind::Dict); auto items = pop_mark(); set_items(*v, items); push(v); break; }
        case 0x91: { auto v = make(PyValue::Kind::Set); v->items = pop_mark(); push(v); break; }
        case 'a': { PyPtr x = pop(); container(top(), PyValue::Kind::List, "APPEND").items.push_back(x); break; }
        case 'e': { auto items = pop_mark(); auto& l = container(top(), PyValue::Kind::List, "APPENDS"); l.items.insert(l.items.end(), items.begin(), items.end()); break; }
        case 0x90: { auto items = pop_mark(); auto& s = container(top(), PyValue::Kind::Set, "ADDITEMS"); s.items.insert(s.items.end(), items.begin(), items.end()); break; }
        case 's': { PyPtr v = pop(); PyPtr k = pop(); container(top(), PyValue::Kind::Dict, "SETITEM").dict.emplace_back(k, v); break; }
        case 'u': { auto items = pop_mark(); set_items(container(top(), PyValue::Kind::Dict, "SETITEMS"), items); break; }
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        case 'p': remember(static_cast<uint32_t>(parse_int(line()))); break;
        case 'q': remember(byte()); break;
        case 'r': remember(u32()); break;
        case 0x94: remember(static_cast<uint32_t>(memo_.size())); break;
        case 'g': push(memo(static_cast<uint32_t>(parse_int(line())))); break;
        case 'h': push(memo(byte())); break;
        case 'j': push(memo(u32())); break;
        case 'c': { std::string module = line(); std::string name = line(); push(global(module + "." + name)); break; }
        case 0x93: {  // STACK_GLOBAL
          PyPtr name = pop(), module = pop();
          if (name->kind != PyValue::Kind::Str || module->kind != PyValue::Kind::Str) fail("STACK_GLOBAL needs two strings");
          push(global(module->s + "." + name->s));
          break;
        }
        case 'R': { PyPtr args = pop(); PyPtr fn = pop(); push(call(*fn, *args)); break; }
        case 0x81: { PyPtr args = pop(); PyPtr cls = pop(); push(call(*cls, *args)); break; }
        case 0x92: { pop(); PyPtr args = pop(); PyPtr cls = pop(); push(call(*cls, *args)); break; }
        case 'b': {  // BUILD: only state on containers and tensors (OrderedDict._metadata, tensor state)
          PyPtr state = pop();
          PyValue& obj = *top();
          if (obj.kind != PyValue::Kind::Dict && obj.kind != PyValue::Kind::Tensor)
            fail(std::string("BUILD on a ") + obj.kind_name() + ": refused");
          (void)state;
          break;
        }
        case 'Q': push(persistent(*pop())); break;
        case 'P': fail("text persistent ids (PERSID): refused");
        case 'i': case 'o': fail("INST/OBJ (instantiating a class from the file): refused");
        case 0x82: case 0x83: case 0x84: fail("EXT opcodes (the copyreg extension registry): refused");
        default: {
          char buf[64];
          std::snprintf(buf, sizeof buf, "unknown pickle opcode 0x%02x at byte %zu", op, static_cast<size_t>(p_ - begin_ - 1));
          fail(buf);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(source_ + ": " + what); }

  // The result, checked without recursion (cycles, depth, the size of its expansion), then copied
  // into a fresh tree the caller can walk and destroy recursively.
  PyPtr checked_copy(const PyPtr& root) {
    std::unordered_map<const PyValue*, std::pair<int, int64_t>> done;  // depth, expanded size
    std::unordered_map<const PyValue*, bool> open;
    std::vector<std::pair<const PyValue*, bool>> work{{root.get(), false}};
    auto children = [](const PyValue* v, std::vector<const PyValue*>& out) {
      out.clear();
      for (auto& x : v->items) out.push_back(x.get());
      for (auto& [k, x] : v->dict) {
        out.push_back(k.get());
        out.push_back(x.get());
      }
    };
    std::vector<const PyValue*> kids;
    while (!work.empty()) {
      auto [v, expanded] = work.back();
      work.pop_back();
      if (v == nullptr || done.count(v)) continue;
      children(v, kids);
      if (!expanded) {
        if (open.count(v)) fail("pickle holds a container that contains itself: refused");
        open[v] = true;
        work.push_back({v, true});
        for (const PyValue* k : kids)
          if (!done.count(k)) {
            if (open.count(k)) fail("pickle holds a container that contains itself: refused");
            work.push_back({k, false});
          }
        continue;
      }
      int depth = 1;
      int64_t size = 1;
      for (const PyValue* k : kids) {
        const auto& d = done.at(k);
        depth = std::max(depth, d.first + 1);
        size = std::min<int64_t>(kMaxObjects + 1, size + d.second);
      }
      if (depth > kMaxDepth) fail("pickle nests containers more than " + std::to_string(kMaxDepth) + " deep: refused");
      if (size > kMaxObjects)
        fail("pickle expands to more than " + std::to_string(kMaxObjects) + " objects (shared references): refused");
      open.erase(v);
      done[v] = {depth, size};
    }
    return copy(*root);
  }
  static PyPtr copy(const PyValue& v) {
    auto c = std::make_shared<PyValue>();
    c->kind = v.kind;
    c->b = v.b;
    c->i = v.i;
    c->f = v.f;
    c->s = v.s;
    c->ordered = v.ordered;
    c->tensor = v.tensor;
    c->items.reserve(v.items.size());
    for (auto& x : v.items) c->items.push_back(copy(*x));
    c->dict.reserve(v.dict.size());
    for (auto& [k, x] : v.dict) c->dict.emplace_back(copy(*k), copy(*x));
    return c;
  }

  uint8_t byte() {
    if (p_ >= end_) fail("pickle is truncated (no STOP opcode)");
    return *p_++;
  }
  const uint8_t* bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("pickle is truncated (a " + std::to_string(n) + "-byte field runs past the end)");
    const uint8_t* b = p_;
    p_ += n;
    return b;
  }
  uint32_t u32() { uint32_t v; std::memcpy(&v, bytes(4), 4); return v; }
  uint64_t u64() { uint64_t v; std::memcpy(&v, bytes(8), 8); return v; }
  std::string str(uint64_t n) { const uint8_t* b = bytes(n); return std::string(reinterpret_cast<const char*>(b), n); }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    if (nl == nullptr) fail("pickle is truncated (a text field has no newline)");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
    p_ = nl + 1;
    return s;
  }
  int64_t parse_int(const std::string& s) {
    try {
      size_t used = 0;
      long long v = std::stoll(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
      return v;
    } catch (const std::exception&) {
      fail("bad integer '" + s + "' in pickle");
    }
  }
  PyPtr text_int(const std::string& s) {
    if (s == "00") return make_bool(false);
    if (s == "01") return make_bool(true);
    return make_int(parse_int(s));
  }
  int64_t long_bytes(uint64_t n) {
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    const uint8_t* b = bytes(n);
    uint64_t u = 0;
    for (uint64_t k = 0; k < n; ++k) u |= static_cast<uint64_t>(b[k]) << (8 * k);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(u);
  }
  static PyPtr make_bool(bool b) {
    auto v = make(PyValue::Kind::Bool);
    v->b = b;
    return v;
  }

  void push(PyPtr v) {
    if (stack_.size() > (1u << 18)) fail("pickle stack holds more than 262,144 objects: refused");
    stack_.push_back(std::move(v));
  }
  PyPtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle pops an empty stack");
    PyPtr v = stack_.back();
    stack_.pop_back();
    dropped_.push_back(v);  // whatever the caller does with it, it is not destroyed (recursively) there
    return v;
  }
  PyPtr& top() {
    if (stack_.empty()) fail("pickle uses an empty stack");
    return stack_.back();
  }
  std::vector<PyPtr> pop_mark() {
    if (marks_.empty()) fail("pickle has no MARK where one is needed");
    size_t m = marks_.back();
    marks_.pop_back();
    // TUPLE1-3 and other ops may have consumed the stack below the mark (found by fuzz_pickle)
    if (m > stack_.size()) fail("pickle's MARK lies above the stack (its items were consumed)");
    std::vector<PyPtr> items(stack_.begin() + static_cast<long>(m), stack_.end());
    dropped_.insert(dropped_.end(), items.begin(), items.end());
    stack_.resize(m);
    return items;
  }
  // MEMOIZE / PUT: an overwritten slot's value is kept for ~Machine, not destroyed here
  void remember(uint32_t i) {
    auto it = memo_.find(i);
    if (it != memo_.end()) dropped_.push_back(it->second);
    memo_[i] = top();
  }
  PyPtr memo(uint32_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) fail("pickle reads memo slot " + std::to_string(i) + " that was never written");
    return it->second;
  }
  PyValue& container(PyPtr& v, PyValue::Kind want, const char* op) {
    if (v->kind != want) fail(std::string(op) + " on a " + v->kind_name());
    return *v;
  }
  void set_items(PyValue& d, const std::vector<PyPtr>& items) {
    if (items.size() % 2) fail("SETITEMS with an odd number of items");
    for (size_t k = 0; k < items.size(); k += 2) d.dict.emplace_back(items[k], items[k + 1]);
  }

  PyPtr global(const std::string& name) {
    if (!allowed_global(name))
      fail("checkpoint asks for " + name +
           ": refused (scfm reads only tensors, containers, numbers and strings from a checkpoint and never "
           "runs code from a file)");
    return make_str(name, PyValue::Kind::Global);
  }

  static int64_t as_int(const PyValue& v) { return v.kind == PyValue::Kind::Bool ? v.b : v.i; }

  std::vector<int64_t> int_tuple(const PyValue& v, const char* what) {
    if (v.kind != PyValue::Kind::Tuple && v.kind != PyValue::Kind::List) fail(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (auto& x : v.items) {
      if (x->kind != PyValue::Kind::Int) fail(std::string(what) + " holds a " + x->kind_name());
      out.push_back(x->i);
    }
    return out;
  }

  PyPtr call(const PyValue& fn, const PyValue& args) {
    if (fn.kind != PyValue::Kind::Global) fail(std::string("calls a ") + fn.kind_name() + ": refused");
    if (args.kind != PyValue::Kind::Tuple) fail("call arguments are not a tuple");
    const auto& a = args.items;
    const std::string& name = fn.s;
    if (name == "collections.OrderedDict") {
      auto d = make(PyValue::Kind::Dict);
      d->ordered = true;
      if (a.size() > 1 || (a.size() == 1 && a[0]->kind != PyValue::Kind::List && a[0]->kind != PyValue::Kind::Tuple &&
                            a[0]->kind != PyValue::Kind::Dict))
        fail("OrderedDict called with " + std::to_string(a.size()) + " arguments (" + (a.empty() ? "" : a[0]->kind_name()) +
             "): expected nothing or its items");
      if (a.size() == 1 && a[0]->kind == PyValue::Kind::Dict) d->dict = a[0]->dict;
      if (!a.empty() && (a[0]->kind == PyValue::Kind::List || a[0]->kind == PyValue::Kind::Tuple))
        for (auto& kv : a[0]->items) {
          if (kv->kind != PyValue::Kind::Tuple || kv->items.size() != 2) fail("OrderedDict items are not pairs");
          d->dict.emplace_back(kv->items[0], kv->items[1]);
        }
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 5 || a[0]->kind != PyValue::Kind::Storage) fail("_rebuild_tensor_v2 with unexpected arguments");
      auto t = make(PyValue::Kind::Tensor);
      t->tensor = a[0]->tensor;
      t->tensor.offset = as_int(*a[1]);
      t->tensor.sizes = int_tuple(*a[2], "tensor size");
      t->tensor.strides = int_tuple(*a[3], "tensor stride");
      if (t->tensor.sizes.size() != t->tensor.strides.size()) fail("tensor size and stride differ in length");
      t->tensor.requires_grad = a[4]->kind == PyValue::Kind::Bool && a[4]->b;
      // check the view stays inside its storage
      int64_t last = t->tensor.offset;
      for (size_t k = 0; k < t->tensor.sizes.size(); ++k) {
        if (t->tensor.sizes[k] < 0 || t->tensor.strides[k] < 0) fail("tensor with a negative size or stride");
        if (t->tensor.sizes[k] == 0) { last = -1; break; }
        // hostile sizes and strides must not wrap around (signed overflow, then a view that
        // passes the check below and reads outside its storage)
        int64_t step = 0;
        if (__builtin_mul_overflow(t->tensor.sizes[k] - 1, t->tensor.strides[k], &step) ||
            __builtin_add_overflow(last, step, &last))
          fail("tensor view with sizes and strides beyond 64 bits");
      }
      if (t->tensor.offset < 0 || last >= t->tensor.storage_numel)
        fail("tensor view reaches past its storage '" + t->tensor.storage_key + "' (" +
             std::to_string(t->tensor.storage_numel) + " elements)");
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.size() < 2 || a[0]->kind != PyValue::Kind::Tensor) fail("_rebuild_parameter with unexpected arguments");
      auto t = std::make_shared<PyValue>(*a[0]);
      t->tensor.is_parameter = true;
      t->tensor.requires_grad = a[1]->kind == PyValue::Kind::Bool && a[1]->b;
      return t;
    }
    if (name == "torch.device") {
      if (a.empty() || a[0]->kind != PyValue::Kind::Str) fail("torch.device without a name");
      return make_str(a[0]->s, PyValue::Kind::Device);
    }
    if (name == "_codecs.encode") {  // protocol 2 bytes: _codecs.encode(text, 'latin1')
      if (a.size() != 2 || a[0]->kind != PyValue::Kind::Str) fail("_codecs.encode with unexpected arguments");
      std::string out;
      const std::string& s = a[0]->s;
      for (size_t k = 0; k < s.size(); ++k) {  // UTF-8 code points below 256 -> one byte each
        uint8_t c = static_cast<uint8_t>(s[k]);
        if (c < 0x80) out.push_back(static_cast<char>(c));
        else if ((c & 0xE0) == 0xC0 && k + 1 < s.size()) { out.push_back(static_cast<char>(((c & 0x1F) << 6) | (s[k + 1] & 0x3F))); ++k; }
        else fail("_codecs.encode of a non-latin1 string");
      }
      return make_str(out, PyValue::Kind::Bytes);
    }
    if (name == "builtins.set" || name == "builtins.frozenset" || name == "__builtin__.set") {
      auto s = make(PyValue::Kind::Set);
      if (!a.empty()) s->items = a[0]->items;
      return s;
    }
    if (name == "torch.Size") {
      auto t = make(PyValue::Kind::Tuple);
      if (!a.empty()) t->items = a[0]->items;
      return t;
    }
    fail("checkpoint calls " + name + ": refused");
  }

  PyPtr persistent(const PyValue& pid) {
    // ('storage', torch.FloatStorage, key, location, numel)
    if (pid.kind != PyValue::Kind::Tuple || pid.items.size() < 5 || pid.items[0]->kind != PyValue::Kind::Str ||
        pid.items[0]->s != "storage")
      fail("persistent id is not a ('storage', type, key, location, numel) tuple");
    const PyValue& type = *pid.items[1];
    if (type.kind != PyValue::Kind::Global) fail("storage type is not a storage class");
    auto v = make(PyValue::Kind::Storage);
    bool found = false;
    for (auto& s : kStorages)
      if (type.s == std::string("torch.") + s.name) {
        v->tensor.dtype = s.dtype;
        found = true;
      }
    if (!found) fail("storage of type " + type.s + ": unsupported");
    if (pid.items[2]->kind != PyValue::Kind::Str) fail("storage key is not a string");
    v->tensor.storage_key = pid.items[2]->s;
    const PyValue& loc = *pid.items[3];
    v->tensor.device = loc.kind == PyValue::Kind::Str || loc.kind == PyValue::Kind::Device ? loc.s : "cpu";
    if (pid.items[4]->kind != PyValue::Kind::Int || pid.items[4]->i < 0) fail("storage size is not a count");
    v->tensor.storage_numel = pid.items[4]->i;
    return v;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_ = p_;
  std::string source_;
  std::vector<PyPtr> stack_;
  // Values popped off the stack or out of the memo. A value dropped by an opcode (POP, or one
  // consumed by a failing opcode) could be the only owner of a chain a million levels deep, whose
  // shared_ptr destructor would recurse that deep (found by fuzz_pickle: 29,000 TUPLE1s, then an
  // opcode dropping the result, overflowed the stack). They all live until ~Machine takes them
  // apart without recursion.
  std::vector<PyPtr> dropped_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, PyPtr> memo_;
};

// --- writer -----------------------------------------------------------------------------------

struct Writer {
  std::string out;
  void op(uint8_t c) { out.push_back(static_cast<char>(c)); }
  void global(const std::string& module, const std::string& name) {
    op('c');
    out += module + "\n" + name + "\n";
  }
  void unicode(const std::string& s) {
    op('X');
    uint32_t n = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      op(static_cast<uint8_t>(v));
    } else if (v >= 0 && v < 65536) {
      op('M');
      uint16_t u = static_cast<uint16_t>(v);
      out.append(reinterpret_cast<const char*>(&u), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      int32_t u = static_cast<int32_t>(v);
      out.append(reinterpret_cast<const char*>(&u), 4);
    } else {
      op(0x8a);
      op(8);
      out.append(reinterpret_cast<const char*>(&v), 8);
    }
  }
  void int_tuple(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    op('t');
  }
};

}  // namespace

PyPtr unpickle(const uint8_t* data, size_t size, const std::string& source) {
  return Machine(data, size, source).run();
}

std::string pickle_tensors(const std::vector<std::pair<std::string, TensorRef>>& tensors) {
  Writer w;
  w.op(0x80);
  w.op(2);
  w.global("collections", "OrderedDict");
  w.op(')');
  w.op('R');
  w.op('(');
  for (auto& [name, t] : tensors) {
    w.unicode(name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('(');
    // persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel)
    w.op('(');
    w.unicode("storage");
    w.global("torch", torch_storage_class(t.dtype));
    w.unicode(t.storage_key);
    w.unicode(t.device);
    w.integer(t.storage_numel);
    w.op('t');
    w.op('Q');
    w.integer(t.offset);
    w.int_tuple(t.sizes);
    w.int_tuple(t.strides);
    w.op(t.requires_grad ? 0x88 : 0x89);
    w.global("collections", "OrderedDict");  // backward hooks: an empty OrderedDict
    w.op(')');
    w.op('R');
    w.op('t');
    w.op('R');
  }
  w.op('u');
  w.op('.');
  return w.out;
}

}  // namespace scfm::io
