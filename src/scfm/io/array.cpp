#include "scfm/io/array.h"

namespace scfm::io {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::I8: return "int8";
    case DType::I16: return "int16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
    case DType::U16: return "uint16";
    case DType::U32: return "uint32";
    case DType::U64: return "uint64";
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::String: return "str";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Bool: case DType::I8: case DType::U8: return 1;
    case DType::I16: case DType::U16: return 2;
    case DType::I32: case DType::U32: case DType::F32: return 4;
    case DType::I64: case DType::U64: case DType::F64: return 8;
    case DType::String: return 0;
  }
  return 0;
}

bool dtype_is_integer(DType t) {
  return t != DType::Bool && t != DType::F32 && t != DType::F64 && t != DType::String;
}

bool dtype_is_float(DType t) { return t == DType::F32 || t == DType::F64; }

}  // namespace scfm::io
