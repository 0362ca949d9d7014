#include "model/tensor.h"

#include "model/quant.h"

namespace whalebox::model {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: return 4;
    case DType::BF16: case DType::F16: return 2;
    case DType::F8_E4M3: case DType::F8_E8M0: case DType::I8: case DType::U8: return 1;
    case DType::I64: return 8;
    case DType::Unknown: return 0;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E8M0: return "F8_E8M0";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::Unknown: return "unknown";
  }
  return "unknown";
}

DType dtype_from_name(const std::string& s) {
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3, DType::F8_E8M0, DType::I8,
                  DType::U8, DType::I32, DType::I64})
    if (s == dtype_name(t)) return t;
  return DType::Unknown;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float Weight::scale_at(int64_t r, int64_t c) const {
  if (!scale) return 1.0f;
  int64_t i = ((row0 + r) / block_rows) * scale_cols + c / block_cols;
  if (scale_is_f32) return reinterpret_cast<const float*>(scale)[i];
  return e8m0_to_float(scale[i]);
}

size_t Weight::bytes() const {
  size_t b = row_bytes() * size_t(rows);
  if (scale) b += size_t((rows + block_rows - 1) / block_rows) * size_t(scale_cols) * (scale_is_f32 ? 4 : 1);
  return b;
}

}  // namespace whalebox::model
