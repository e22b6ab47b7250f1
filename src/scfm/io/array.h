// Typed n-dimensional arrays as they sit in an HDF5 dataset: the in-memory unit of io/.
//
// An Array keeps the on-disk element type (dtype) and C-order shape, so reading a file and
// writing it back is lossless. Numbers are stored as raw bytes of the native type; strings
// (dtype String) as UTF-8 std::strings in `strings`. A scalar has an empty shape and one element.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "scfm/util/error.h"

namespace scfm::io {

enum class DType : uint8_t { Bool, I8, I16, I32, I64, U8, U16, U32, U64, F32, F64, String };

// numpy's names: "bool", "int8", ..., "float64", "str".
const char* dtype_name(DType t);
size_t dtype_size(DType t);  // bytes per element; 0 for String
bool dtype_is_integer(DType t);
bool dtype_is_float(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
template <> constexpr DType dtype_of<int8_t>() { return DType::I8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::I16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::U16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::U32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::U64; }
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }

struct Array {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;        // empty = scalar
  std::vector<uint8_t> bytes;        // numeric payload, size() * dtype_size(dtype) bytes
  std::vector<std::string> strings;  // payload when dtype == String

  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  bool is_string() const { return dtype == DType::String; }
  bool is_scalar() const { return shape.empty(); }

  // Element i converted to T (numeric arrays only).
  template <class T> T get(int64_t i) const;
  // All elements converted to T.
  template <class T> std::vector<T> to() const {
    std::vector<T> out(static_cast<size_t>(size()));
    for (int64_t i = 0; i < size(); ++i) out[i] = get<T>(i);
    return out;
  }
  // Typed pointer; the dtype must be exactly dtype_of<T>().
  template <class T> const T* data() const {
    if (dtype != dtype_of<T>()) throw Error(std::string("array holds ") + dtype_name(dtype) + ", not the requested type");
    return reinterpret_cast<const T*>(bytes.data());
  }
  template <class T> T* data() {
    if (dtype != dtype_of<T>()) throw Error(std::string("array holds ") + dtype_name(dtype) + ", not the requested type");
    return reinterpret_cast<T*>(bytes.data());
  }

  template <class T> static Array from(const std::vector<T>& values, std::vector<int64_t> shape = {}) {
    Array a;
    a.dtype = dtype_of<T>();
    a.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(values.size())} : std::move(shape);
    a.bytes.resize(values.size() * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size(); ++i) a.bytes[i] = values[i] ? 1 : 0;
    } else {
      const auto* src = reinterpret_cast<const uint8_t*>(values.data());
      a.bytes.assign(src, src + values.size() * sizeof(T));
    }
    return a;
  }
  template <class T> static Array scalar(T value) {
    Array a = from(std::vector<T>{value});
    a.shape.clear();
    return a;
  }
  static Array from_strings(std::vector<std::string> values) {
    Array a;
    a.dtype = DType::String;
    a.shape = {static_cast<int64_t>(values.size())};
    a.strings = std::move(values);
    return a;
  }
  static Array string_scalar(std::string value) {
    Array a = from_strings({std::move(value)});
    a.shape.clear();
    return a;
  }
};

template <class T> T Array::get(int64_t i) const {
  const uint8_t* p = bytes.data();
  switch (dtype) {
    case DType::Bool: return static_cast<T>(p[i] != 0);
    case DType::I8: return static_cast<T>(reinterpret_cast<const int8_t*>(p)[i]);
    case DType::I16: return static_cast<T>(reinterpret_cast<const int16_t*>(p)[i]);
    case DType::I32: return static_cast<T>(reinterpret_cast<const int32_t*>(p)[i]);
    case DType::I64: return static_cast<T>(reinterpret_cast<const int64_t*>(p)[i]);
    case DType::U8: return static_cast<T>(reinterpret_cast<const uint8_t*>(p)[i]);
    case DType::U16: return static_cast<T>(reinterpret_cast<const uint16_t*>(p)[i]);
    case DType::U32: return static_cast<T>(reinterpret_cast<const uint32_t*>(p)[i]);
    case DType::U64: return static_cast<T>(reinterpret_cast<const uint64_t*>(p)[i]);
    case DType::F32: return static_cast<T>(reinterpret_cast<const float*>(p)[i]);
    case DType::F64: return static_cast<T>(reinterpret_cast<const double*>(p)[i]);
    case DType::String: break;
  }
  throw Error("a string array was used where numbers were expected");
}

}  // namespace scfm::io
