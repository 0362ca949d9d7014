#pragma once
// Rotary position embedding as V4 uses it (spec §5.4): interleaved pairs on the trailing
// rope_dim values; theta 10000 for window-only layers, compress_rope_theta with the YaRN
// frequency blend for compressed layers; FP32 angles float(t) * f_i; no mscale.
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace whalebox::model {

class Rope {
 public:
  Rope(const Config& c, int ratio);
  // Rotates x[width - rope_dim, width) by +t (or -t when inverse) in place; with count > 1 also
  // the vectors x + stride, x + 2 stride, ... (a token's heads share one set of sines).
  void apply(float* x, int width, int64_t t, bool inverse = false, int count = 1, int64_t stride = 0) const;
  const std::vector<float>& freqs() const { return freqs_; }

 private:
  int rope_dim_;
  std::vector<float> freqs_;
};

}  // namespace whalebox::model
