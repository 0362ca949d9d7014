#include "model/kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/quant.h"
#include "model/thread_pool.h"

namespace whalebox::model {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

namespace {

// WHALEBOX_ISA, read once: a level (scalar, avx2, avx512, native) and/or features to treat as
// absent ("-avx512bf16"), comma-separated.
struct IsaMask {
  int level = 3;  // 0 scalar, 1 AVX2+FMA, 2 AVX-512 F/BW/VL, 3 everything the CPU has
  std::vector<std::string> masked;
};

const IsaMask& isa_mask() {
  static const IsaMask mask = [] {
    IsaMask m;
    const char* e = std::getenv("WHALEBOX_ISA");
    if (!e || !*e) return m;
    const std::string v = e;
    for (size_t at = 0; at <= v.size();) {
      size_t end = std::min(v.find(',', at), v.size());
      const std::string item = v.substr(at, end - at);
      at = end + 1;
      if (item == "scalar") m.level = 0;
      else if (item == "avx2") m.level = 1;
      else if (item == "avx512") m.level = 2;
      else if (item == "native") m.level = 3;
      else if (item.size() > 1 && item[0] == '-') m.masked.push_back(item.substr(1));
      else if (!item.empty())
        std::fprintf(stderr,
                     "whalebox: WHALEBOX_ISA: '%s' is not scalar, avx2, avx512, native or -FEATURE; ignored\n",
                     item.c_str());
    }
    return m;
  }();
  return mask;
}

}  // namespace

bool cpu_allows(const char* feature) {
  __builtin_cpu_init();
  // One row per extension the kernels ask about: the WHALEBOX_ISA level it belongs to and
  // whether the CPU has it (__builtin_cpu_supports wants a string literal, hence the table).
  struct Feature {
    const char* name;
    int level;
    bool present;
  };
  static const Feature features[] = {
      {"avx2", 1, bool(__builtin_cpu_supports("avx2"))},
      {"fma", 1, bool(__builtin_cpu_supports("fma"))},
      {"f16c", 1, bool(__builtin_cpu_supports("f16c"))},
      {"avx512f", 2, bool(__builtin_cpu_supports("avx512f"))},
      {"avx512bw", 2, bool(__builtin_cpu_supports("avx512bw"))},
      {"avx512vl", 2, bool(__builtin_cpu_supports("avx512vl"))},
      {"avx512bf16", 3, bool(__builtin_cpu_supports("avx512bf16"))},
      {"avx512vbmi", 3, bool(__builtin_cpu_supports("avx512vbmi"))},
      {"avx512vnni", 3, bool(__builtin_cpu_supports("avx512vnni"))},
  };
  const IsaMask& mask = isa_mask();
  const std::string f = feature;
  for (const Feature& x : features)
    if (f == x.name)
      return x.present && x.level <= mask.level &&
             std::find(mask.masked.begin(), mask.masked.end(), f) == mask.masked.end();
  return false;
}

Isa best_isa() {
  if (avx512_kernels() && cpu_allows("avx512f") && cpu_allows("avx512bw") && cpu_allows("avx512vl")) return Isa::Avx512;
  if (avx2_kernels() && cpu_allows("avx2") && cpu_allows("fma") && cpu_allows("f16c")) return Isa::Avx2;
  return Isa::Scalar;
}

namespace {

std::atomic<int> g_isa{-1};

const KernelTable& table() {
  int isa = g_isa.load(std::memory_order_relaxed);
  if (isa < 0) {
    isa = int(best_isa());
    g_isa.store(isa);
  }
  if (isa == int(Isa::Avx512)) return *avx512_kernels();
  if (isa == int(Isa::Avx2)) return *avx2_kernels();
  return scalar_kernels();
}

// Scalar reference: decode one weight element at a time.
inline float weight_at(const Weight& w, const uint8_t* row, int64_t c) {
  switch (w.format) {
    case WeightFormat::F32: return reinterpret_cast<const float*>(row)[c];
    case WeightFormat::BF16: return bf16_to_float(reinterpret_cast<const uint16_t*>(row)[c]);
    case WeightFormat::FP8: return fp8_to_float(row[c]);
    case WeightFormat::FP4: return fp4_to_float(c & 1 ? row[c / 2] >> 4 : row[c / 2] & 15);
  }
  return 0;
}

float scalar_row(const Weight& w, int64_t r, const float* x) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  if (!w.scale) {
    float acc = 0;
    for (int64_t c = 0; c < w.cols; ++c) acc += weight_at(w, row, c) * x[c];
    return acc;
  }
  float acc = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols) {
    int64_t c1 = std::min<int64_t>(w.cols, c0 + w.block_cols);
    float part = 0;
    for (int64_t c = c0; c < c1; ++c) part += weight_at(w, row, c) * x[c];
    acc += part * w.scale_at(r, c0);
  }
  return acc;
}

void scalar_gemm_rows(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = r0; r < r1; ++r) Y[t * w.rows + r] = scalar_row(w, r, X + t * w.cols);
}

float scalar_dot(const float* a, const float* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void scalar_fp8_decode(const uint8_t* in, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp8_to_float(in[i]) * scale;
}

void scalar_axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// SIMD paths handle widths that are multiples of 32 (FP4 blocks) / 16; others use scalar.
bool simd_ok(const Weight& w) {
  if (w.cols % 32) return false;
  if (w.scale && w.block_cols % 32) return false;
  return true;
}

const KernelTable& kernels_for(const Weight& w) { return simd_ok(w) ? table() : scalar_kernels(); }

}  // namespace

void scalar_fp8_decode_blocks64(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  for (int64_t b = 0; b < n; b += 64) scalar_fp8_decode(in + b, 64, e8m0_to_float(scales[b / 64]), out + b);
}

void scalar_attn_scores(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc) {
  for (int h = 0; h < H; ++h)
    for (int64_t u = 0; u < n; ++u) sc[h * n + u] = scalar_dot(q + h * hd, k + u * hd, hd) * scale;
}

void scalar_attn_pv(const float* p, const float* k, int64_t n, int H, int hd, float* acc) {
  for (int h = 0; h < H; ++h)
    for (int64_t u = 0; u < n; ++u) scalar_axpy(acc + h * hd, p[h * n + u], k + u * hd, hd);
}

const KernelTable& scalar_kernels() {
  static const KernelTable t{scalar_gemm_rows,    scalar_dot,         scalar_axpy,   scalar_fp8_decode,
                             scalar_fp8_decode_blocks64, scalar_attn_scores, scalar_attn_pv};
  return t;
}

Isa active_isa() {
  table();
  return Isa(g_isa.load());
}

void set_isa(Isa isa) {
  Isa best = best_isa();
  if (int(isa) > int(best)) isa = best;
  g_isa.store(int(isa));
}

void prepare_x(const Weight& w, const float* x, float* xp) {
  if (w.format != WeightFormat::FP4 || &kernels_for(w) == &scalar_kernels()) {
    std::copy(x, x + w.cols, xp);
    return;
  }
  for (int64_t b = 0; b < w.cols; b += 32)
    for (int i = 0; i < 16; ++i) {
      xp[b + i] = x[b + 2 * i];
      xp[b + 16 + i] = x[b + 2 * i + 1];
    }
}

void gemv(const Weight& w, const float* x, float* y, Inputs in) { gemm(w, x, 1, y, in); }

bool widens_exactly_to_bf16(const Weight& w) {
  if (w.cols % 32) return false;
  if (w.format == WeightFormat::BF16) return true;
  if (w.format == WeightFormat::F32 || !w.scale || w.scale_is_f32 || w.block_cols % 32) return false;
  if (w.format == WeightFormat::FP4 && w.cols % 64) return false;  // widened 64 columns at a time
  const int64_t n = (w.row0 + w.rows + w.block_rows - 1) / w.block_rows * w.scale_cols;
  for (int64_t i = 0; i < n; ++i)
    if (w.scale[i] < 10 || w.scale[i] > 240) return false;
  return true;
}

void gemm_bf16_reference(const Weight& w, const float* X, int64_t n, float* Y) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      const uint8_t* row = w.data + size_t(r) * w.row_bytes();
      double acc = 0;
      for (int64_t c = 0; c < w.cols; ++c)
        acc += double(round_bf16(X[t * w.cols + c])) * weight_at(w, row, c) * w.scale_at(r, c);
      Y[t * w.rows + r] = float(acc);
    }
}

void attn_scores_bf16_reference(const uint16_t* qb, const uint16_t* kb, int64_t n, int H, int hd, float scale, float* sc) {
  for (int h = 0; h < H; ++h)
    for (int64_t u = 0; u < n; ++u) {
      double acc = 0;
      for (int d = 0; d < hd; ++d) acc += double(bf16_to_float(qb[h * hd + d])) * bf16_to_float(kb[u * hd + d]);
      sc[h * n + u] = float(acc * scale);
    }
}

void attn_pv_bf16_reference(const uint16_t* pb, const uint16_t* kb, int64_t n, int64_t n2, int H, int hd, float* acc) {
  for (int h = 0; h < H; ++h)
    for (int d = 0; d < hd; ++d) {
      double a = acc[h * hd + d];
      for (int64_t u = 0; u < n; ++u) a += double(bf16_to_float(pb[h * n2 + u])) * bf16_to_float(kb[u * hd + d]);
      acc[h * hd + d] = float(a);
    }
}

namespace {

const Bf16Kernels* bf16_path(const Weight& w, Inputs in) {
  return in == Inputs::BF16 && w.bf16_exact && active_isa() == Isa::Avx512 ? bf16_kernels() : nullptr;
}

// The rows of all calls split over the pool in blocks of 4, as one job (a decode step runs
// dozens of small products per layer; each job is a hand-off to the other threads). Each call's
// input is prepared once, and calls on the same input and preparation share it: the BF16 path
// rounds it (and orders FP4 rows' inputs as their widening yields), the FP32 path copies FP4
// rows' inputs split even/odd per 32-block (prepare_x) and reads the others in place.
template <class In>
struct PreparedCalls {
  struct Part {
    const GemmCall* c;
    const In* x;    // in place, or nullptr: prepared at xoff
    size_t xoff;
    bool prepares;  // the first part on this prepared input writes it
    int64_t first_block;
  };
  std::vector<Part> parts;
  std::vector<In> xs;
  int64_t blocks = 0, widest = 1;

  // needs_copy(call): the input is prepared; key(call): calls with equal X, size and key share it.
  template <class NeedsCopy, class Key>
  void plan(const GemmCall* calls, size_t count, NeedsCopy needs_copy, Key key) {
    parts.clear();
    blocks = 0, widest = 1;
    size_t size = 0;
    for (size_t i = 0; i < count; ++i) {
      const GemmCall& c = calls[i];
      Part p{&c, nullptr, 0, false, blocks};
      if (needs_copy(c)) {
        const size_t len = size_t(c.n * c.w->cols);
        p.xoff = size;
        for (const Part& q : parts)
          if (!q.x && q.c->X == c.X && size_t(q.c->n * q.c->w->cols) == len && key(*q.c) == key(c)) p.xoff = q.xoff;
        p.prepares = p.xoff == size;
        if (p.prepares) size += len;
      } else {
        p.x = reinterpret_cast<const In*>(c.X);
      }
      parts.push_back(p);
      blocks += (c.w->rows + 3) / 4;
      widest = std::max(widest, c.w->cols);
    }
    xs.resize(size);
  }
  const In* input(const Part& p) const { return p.x ? p.x : xs.data() + p.xoff; }

  // rows(w, x, n, Y, r0, r1) over all blocks; grain_elems: weight elements per chunk.
  template <class Rows>
  void run(int64_t grain_elems, Rows rows) const {
    const int64_t grain = std::max<int64_t>(1, grain_elems / (widest * 4));
    const Part* p0 = parts.data();
    const size_t np = parts.size();
    parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
      for (size_t i = 0; i < np; ++i) {
        const Part& p = p0[i];
        const Weight& w = *p.c->w;
        const int64_t lo = std::max(b0, p.first_block), hi = std::min(b1, p.first_block + (w.rows + 3) / 4);
        if (lo < hi) rows(w, input(p), p.c->n, p.c->Y, (lo - p.first_block) * 4, std::min(w.rows, (hi - p.first_block) * 4));
      }
    });
  }
};

bool is_fp4(const GemmCall& c) { return c.w->format == WeightFormat::FP4; }

// Fast mode: inputs rounded to BF16, BF16 dot products.
void gemm_bf16(const Bf16Kernels& k, const GemmCall* calls, size_t count) {
  thread_local PreparedCalls<uint16_t> pc;
  pc.plan(calls, count, [](const GemmCall&) { return true; }, is_fp4);
  for (const auto& p : pc.parts)
    if (p.prepares) {
      uint16_t* xb = pc.xs.data() + p.xoff;
      k.round_inputs(p.c->X, p.c->n * p.c->w->cols, xb);
      if (is_fp4(*p.c)) k.fp4_input_order(xb, p.c->n * p.c->w->cols);
    }
  pc.run(1 << 16, k.rows);
}

// FP32 inputs, on the SIMD table (or the scalar one for widths it does not take).
void gemm_f32(const GemmCall* calls, size_t count) {
  thread_local PreparedCalls<float> pc;
  auto simd_fp4 = [](const GemmCall& c) { return is_fp4(c) && &kernels_for(*c.w) != &scalar_kernels(); };
  pc.plan(calls, count, simd_fp4, [](const GemmCall&) { return 0; });
  for (const auto& p : pc.parts)
    if (p.prepares)
      for (int64_t t = 0; t < p.c->n; ++t)
        prepare_x(*p.c->w, p.c->X + t * p.c->w->cols, pc.xs.data() + p.xoff + t * p.c->w->cols);
  pc.run(1 << 15, [](const Weight& w, const float* x, int64_t n, float* Y, int64_t r0, int64_t r1) {
    kernels_for(w).gemm_rows(w, x, n, Y, r0, r1);
  });
}

}  // namespace

void gemm_batch(const GemmCall* calls, size_t count, Inputs in) {
  thread_local std::vector<GemmCall> fast, plain;
  fast.clear();
  plain.clear();
  const Bf16Kernels* bk = nullptr;
  for (size_t i = 0; i < count; ++i) {
    if (const Bf16Kernels* k = bf16_path(*calls[i].w, in)) {
      bk = k;
      fast.push_back(calls[i]);
    } else {
      plain.push_back(calls[i]);
    }
  }
  if (bk) gemm_bf16(*bk, fast.data(), fast.size());
  if (!plain.empty()) gemm_f32(plain.data(), plain.size());
}

void gemm(const Weight& w, const float* X, int64_t n, float* Y, Inputs in) {
  const GemmCall c{&w, X, n, Y};
  gemm_batch(&c, 1, in);
}

float dot(const float* a, const float* b, int64_t n) { return table().dot(a, b, n); }
void axpy(float* y, float a, const float* x, int64_t n) { table().axpy(y, a, x, n); }
void fp8_decode(const uint8_t* in, int64_t n, float scale, float* out) {
  if (n % 16) return scalar_fp8_decode(in, n, scale, out);
  table().fp8_decode(in, n, scale, out);
}
void fp8_decode_blocks64(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  (n % 64 ? scalar_kernels() : table()).fp8_decode_blocks64(in, n, scales, out);
}
void attn_scores(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc) {
  (hd % 16 ? scalar_kernels() : table()).attn_scores(q, k, n, H, hd, scale, sc);
}
void attn_pv(const float* p, const float* k, int64_t n, int H, int hd, float* acc) {
  (hd % 16 ? scalar_kernels() : table()).attn_pv(p, k, n, H, hd, acc);
}

}  // namespace whalebox::model

namespace whalebox::model {

void decode_row(const Weight& w, int64_t r, float* out) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  for (int64_t c = 0; c < w.cols; ++c) out[c] = weight_at(w, row, c) * w.scale_at(r, c);
}

}  // namespace whalebox::model
