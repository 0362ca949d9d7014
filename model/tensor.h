#pragma once
// A small tensor-view layer: element types as stored in safetensors files, and non-owning views
// over memory-mapped weights. Quantised linear weights carry their block-scale tensor.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace whalebox::model {

enum class DType : uint8_t { F32, BF16, F16, F8_E4M3, F8_E8M0, I8, U8, I32, I64, Unknown };

// Size of one stored element in bytes (FP4 weights are stored as I8, two values per byte).
size_t dtype_size(DType t);
const char* dtype_name(DType t);       // safetensors spelling, e.g. "F8_E4M3"
DType dtype_from_name(const std::string& s);  // Unknown when not recognised

struct TensorView {
  std::string name;
  DType dtype = DType::Unknown;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  int64_t dim(int i) const { return shape.at(i); }
  // Element i read by copy: safetensors aligns the data section only to the header's length,
  // so a typed pointer into the mapping may be misaligned.
  template <class T>
  T load(size_t i) const {
    T v;
    std::memcpy(&v, data + i * sizeof(T), sizeof(T));
    return v;
  }
  // A typed pointer, for callers that know the data is aligned for T.
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(data); }
};

std::string shape_str(const std::vector<int64_t>& shape);

// How a linear weight [rows=out, cols=in] is encoded; the kernels dequantise in registers.
enum class WeightFormat : uint8_t { F32, BF16, FP8, FP4 };

struct Weight {
  WeightFormat format = WeightFormat::F32;
  int64_t rows = 0, cols = 0;     // logical (FP4: cols is twice the stored byte width)
  const uint8_t* data = nullptr;  // row-major; row stride = row_bytes()
  // Block scales (FP8: [ceil(rows/br), ceil(cols/bc)]; FP4: [rows, cols/32]), E8M0 or F32.
  const uint8_t* scale = nullptr;
  bool scale_is_f32 = false;
  int block_rows = 1, block_cols = 1;
  int64_t scale_cols = 0;
  int64_t row0 = 0;  // first row of this view within the scaled tensor (row slices)
  bool bf16_exact = false;  // widens exactly to BF16 (set when binding; fast-mode BF16 path)

  size_t row_bytes() const {
    switch (format) {
      case WeightFormat::F32: return size_t(cols) * 4;
      case WeightFormat::BF16: return size_t(cols) * 2;
      case WeightFormat::FP8: return size_t(cols);
      case WeightFormat::FP4: return size_t(cols) / 2;
    }
    return 0;
  }
  // Rows [r0, r0 + n) as a weight of their own (grouped projections).
  Weight slice_rows(int64_t r0, int64_t n) const {
    Weight w = *this;
    w.data = data + size_t(r0) * row_bytes();
    w.rows = n;
    w.row0 = row0 + r0;
    return w;
  }
  // Scale that applies to element (r, c); 1 for unscaled formats.
  float scale_at(int64_t r, int64_t c) const;
  size_t bytes() const;  // weight + scale bytes read by one full GEMV
};

}  // namespace whalebox::model
