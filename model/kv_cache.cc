#include "model/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "model/kernels.h"
#include "model/quant.h"

namespace whalebox::model {

KvEntryFormat::KvEntryFormat(const Config& c, KvLayout l)
    : head_dim(c.head_dim), rope_dim(c.qk_rope_head_dim), nope(c.nope_dim()), layout(l) {
  if (l == KvLayout::Plain) bytes = int64_t(head_dim) * 4;
  else bytes = (int64_t(nope) + (l == KvLayout::Exact ? 4 : 2) * rope_dim + nope / 64 + 7) / 8 * 8;
}

void KvEntryFormat::encode(const float* x, uint8_t* out) const {
  if (layout == KvLayout::Plain) {
    std::memcpy(out, x, sizeof(float) * size_t(head_dim));
    return;
  }
  std::memset(out, 0, size_t(bytes));
  const bool f32 = layout == KvLayout::Exact;
  uint8_t* scales = out + nope + (f32 ? 4 : 2) * rope_dim;
  for (int b = 0; b < nope / 64; ++b) {
    float amax = 0;
    for (int i = 0; i < 64; ++i) amax = std::max(amax, std::fabs(x[b * 64 + i]));
    float s = pow2_scale(amax, 448.0f, 1e-4f);
    scales[b] = float_to_e8m0(s);
    for (int i = 0; i < 64; ++i) out[b * 64 + i] = float_to_fp8(std::clamp(x[b * 64 + i] / s, -448.0f, 448.0f));
  }
  if (f32) {
    std::memcpy(out + nope, x + nope, sizeof(float) * size_t(rope_dim));
    return;
  }
  for (int i = 0; i < rope_dim; ++i) {
    uint16_t v = float_to_bf16(x[nope + i]);
    std::memcpy(out + nope + 2 * i, &v, 2);
  }
}

void KvEntryFormat::decode(const uint8_t* in, float* x) const {
  if (layout == KvLayout::Plain) {
    std::memcpy(x, in, sizeof(float) * size_t(head_dim));
    return;
  }
  const bool f32 = layout == KvLayout::Exact;
  const uint8_t* scales = in + nope + (f32 ? 4 : 2) * rope_dim;
  fp8_decode_blocks64(in, nope / 64 * 64, scales, x);
  if (f32) {
    std::memcpy(x + nope, in + nope, sizeof(float) * size_t(rope_dim));
    return;
  }
  uint16_t v[256];  // rope dims (64 at V4 sizes), copied out first so the loop vectorises
  for (int i0 = 0; i0 < rope_dim; i0 += 256) {
    const int m = std::min(256, rope_dim - i0);
    std::memcpy(v, in + nope + 2 * i0, size_t(2 * m));
    for (int i = 0; i < m; ++i) x[nope + i0 + i] = bf16_to_float(v[i]);
  }
}

void KvEntryFormat::decode_bf16(const uint8_t* in, uint16_t* x) const { bf16_kernels()->kv_entry(in, nope, rope_dim, x); }

IndexKeyFormat::IndexKeyFormat(const Config& c, KvLayout l) : dim(c.index_head_dim), plain(l == KvLayout::Plain) {
  bytes = plain ? int64_t(dim) * 4 : dim / 2 + dim / 32;
}

void IndexKeyFormat::encode(const float* x, uint8_t* out) const {
  if (plain) {
    std::memcpy(out, x, sizeof(float) * size_t(dim));
    return;
  }
  uint8_t* scales = out + dim / 2;
  for (int b = 0; b < dim / 32; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    float s = pow2_scale(amax, 6.0f, 6.0f * 0x1p-126f);
    scales[b] = float_to_e8m0(s);
    for (int i = 0; i < 32; i += 2) {
      uint8_t lo = float_to_fp4(std::clamp(x[b * 32 + i] / s, -6.0f, 6.0f));
      uint8_t hi = float_to_fp4(std::clamp(x[b * 32 + i + 1] / s, -6.0f, 6.0f));
      out[(b * 32 + i) / 2] = uint8_t(lo | (hi << 4));
    }
  }
}

void IndexKeyFormat::decode(const uint8_t* in, float* x) const {
  if (plain) {
    std::memcpy(x, in, sizeof(float) * size_t(dim));
    return;
  }
  const uint8_t* scales = in + dim / 2;
  for (int b = 0; b < dim / 32; ++b) {
    const float s = e8m0_to_float(scales[b]);
    for (int i = 0; i < 16; ++i) {
      const uint8_t v = in[b * 16 + i];
      x[b * 32 + 2 * i] = kFp4Table[v & 15] * s;
      x[b * 32 + 2 * i + 1] = kFp4Table[v >> 4] * s;
    }
  }
}

uint8_t* PagedEntries::append() {
  int64_t slot = count_ % kPageEntries;
  if (slot == 0) {
    pages_.push_back(std::make_shared<std::vector<uint8_t>>(size_t(kPageEntries * entry_bytes_)));
  } else if (pages_.back().use_count() > 1) {
    pages_.back() = std::make_shared<std::vector<uint8_t>>(*pages_.back());  // copy on write
  }
  ++count_;
  return pages_.back()->data() + slot * entry_bytes_;
}

int64_t PagedEntries::pages_shared_with(const PagedEntries& o) const {
  int64_t n = 0;
  for (size_t i = 0; i < std::min(pages_.size(), o.pages_.size()); ++i) n += pages_[i] == o.pages_[i];
  return n;
}

void CompressorState::init(int r, int w) {
  ratio = r;
  width = w;
  kappa = r == 4 ? 2 : 1;
  rows = r == 4 ? 2 * r : r;
  kv.assign(size_t(rows) * kappa * w, 0.0f);
  score.assign(size_t(rows) * kappa * w, -INFINITY);
}

uint64_t config_fingerprint(const Config& c) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](int64_t v) {
    h ^= uint64_t(v);
    h *= 1099511628211ull;
  };
  mix(c.hidden_size), mix(c.num_hidden_layers), mix(c.num_attention_heads), mix(c.head_dim);
  mix(c.qk_rope_head_dim), mix(c.sliding_window), mix(c.index_head_dim), mix(c.num_nextn_predict_layers);
  for (int r : c.compress_ratios) mix(r);
  return h;
}

KvCache::KvCache(const Config& c, KvLayout layout) : config_hash_(config_fingerprint(c)), layout_(layout) {
  KvEntryFormat f(c, layout);
  IndexKeyFormat fi(c, layout);
  for (int l = 0; l < c.total_blocks(); ++l) {
    LayerCache lc;
    lc.ratio = c.ratio(l);
    lc.ring.assign(size_t(c.sliding_window * f.bytes), 0);
    lc.compressed = PagedEntries(f.bytes);
    lc.index_keys = PagedEntries(fi.bytes);
    if (lc.ratio) lc.comp.init(lc.ratio, c.head_dim);
    if (lc.ratio == 4) lc.index_comp.init(4, c.index_head_dim);
    layers.push_back(std::move(lc));
  }
}

int64_t KvCache::kv_bytes() const {
  int64_t n = 0;
  for (auto& l : layers)
    n += int64_t(l.ring.size()) + l.compressed.size() * l.compressed.entry_bytes() +
         l.index_keys.size() * l.index_keys.entry_bytes();
  for (auto& d : dense_kv) n += int64_t(d.size()) * 2;
  return n;
}

int64_t KvCache::state_bytes() const {
  int64_t n = 0;
  for (auto& l : layers) n += int64_t(l.comp.kv.size() + l.comp.score.size() + l.index_comp.kv.size() + l.index_comp.score.size()) * 4;
  return n;
}

void KvCache::set_length_for_synthetic(int64_t n) {
  length_ = n;
  tokens_.resize(size_t(n), 0);
}

// --- snapshot ---------------------------------------------------------------------------------

class KvCacheIo {
 public:
  static constexpr char kMagic[8] = {'W', 'B', 'K', 'V', 'v', '1', 0, 0};

  static void put(std::string& s, const void* p, size_t n) { s.append(static_cast<const char*>(p), n); }
  template <class T>
  static void put_pod(std::string& s, T v) { put(s, &v, sizeof v); }
  template <class T>
  static void put_vec(std::string& s, const std::vector<T>& v) {
    put_pod<uint64_t>(s, v.size());
    put(s, v.data(), v.size() * sizeof(T));
  }
  static void put_paged(std::string& s, const PagedEntries& p) {
    put_pod<int64_t>(s, p.size());
    for (int64_t i = 0; i < p.size(); ++i) put(s, p.at(i), size_t(p.entry_bytes()));
  }

  struct Reader {
    const std::string& s;
    size_t pos = 0;
    void get(void* p, size_t n) {
      if (n > s.size() - pos) throw std::runtime_error("KV snapshot is truncated at byte " + std::to_string(pos));
      if (n == 0) return;  // an empty vector's data() may be null, which memcpy must not see
      std::memcpy(p, s.data() + pos, n);
      pos += n;
    }
    template <class T>
    T pod() {
      T v;
      get(&v, sizeof v);
      return v;
    }
    template <class T>
    void vec(std::vector<T>& v, size_t expect, const char* what) {
      uint64_t n = pod<uint64_t>();
      if (n != expect)
        throw std::runtime_error(std::string("KV snapshot: ") + what + " has " + std::to_string(n) + " values, expected " +
                                 std::to_string(expect));
      v.resize(n);
      get(v.data(), n * sizeof(T));
    }
    void paged(PagedEntries& p) {
      int64_t n = pod<int64_t>();
      if (n < 0 || uint64_t(n) * uint64_t(p.entry_bytes()) > s.size() - pos)
        throw std::runtime_error("KV snapshot: compressed entry count " + std::to_string(n) + " exceeds the data");
      for (int64_t i = 0; i < n; ++i) get(p.append(), size_t(p.entry_bytes()));
    }
  };

  static std::string save(const KvCache& c) {
    std::string s;
    put(s, kMagic, 8);
    put_pod(s, c.config_hash_);
    put_pod<uint8_t>(s, uint8_t(c.layout_));
    put_pod(s, c.length_);
    put_vec(s, c.tokens_);
    put_pod<uint64_t>(s, c.layers.size());
    for (auto& l : c.layers) {
      put_vec(s, l.ring);
      put_vec(s, l.comp.kv);
      put_vec(s, l.comp.score);
      put_vec(s, l.index_comp.kv);
      put_vec(s, l.index_comp.score);
      put_paged(s, l.compressed);
      put_paged(s, l.index_keys);
    }
    put_vec(s, c.mtp_pending);
    put_pod(s, c.mtp_length);
    return s;
  }

  static KvCache load(const Config& cfg, const std::string& s) {
    Reader r{s};
    char magic[8];
    r.get(magic, 8);
    if (std::memcmp(magic, kMagic, 8) != 0) throw std::runtime_error("not a whalebox KV snapshot (bad magic)");
    if (r.pod<uint64_t>() != config_fingerprint(cfg))
      throw std::runtime_error("KV snapshot was made for a different model configuration");
    uint8_t layout = r.pod<uint8_t>();
    if (layout > uint8_t(KvLayout::Plain)) throw std::runtime_error("KV snapshot: unknown KV layout " + std::to_string(layout));
    KvCache c(cfg, KvLayout(layout));
    c.length_ = r.pod<int64_t>();
    if (c.length_ < 0) throw std::runtime_error("KV snapshot: negative length");
    r.vec(c.tokens_, size_t(c.length_), "token list");
    if (r.pod<uint64_t>() != c.layers.size()) throw std::runtime_error("KV snapshot: layer count differs");
    for (size_t li = 0; li < c.layers.size(); ++li) {
      auto& l = c.layers[li];
      r.vec(l.ring, l.ring.size(), "window ring");
      r.vec(l.comp.kv, l.comp.kv.size(), "compressor values");
      r.vec(l.comp.score, l.comp.score.size(), "compressor scores");
      r.vec(l.index_comp.kv, l.index_comp.kv.size(), "indexer compressor values");
      r.vec(l.index_comp.score, l.index_comp.score.size(), "indexer compressor scores");
      r.paged(l.compressed);
      r.paged(l.index_keys);
      int64_t expect = l.ratio ? c.length_ / l.ratio : 0;
      if (int(li) < cfg.num_hidden_layers && l.compressed.size() != expect)
        throw std::runtime_error("KV snapshot: " + std::to_string(l.compressed.size()) + " compressed entries, expected " +
                                 std::to_string(expect));
    }
    uint64_t n = r.pod<uint64_t>();
    if (n > s.size()) throw std::runtime_error("KV snapshot: MTP state size is corrupt");
    c.mtp_pending.resize(n);
    r.get(c.mtp_pending.data(), n * sizeof(float));
    c.mtp_length = r.pod<int64_t>();
    if (r.pos != s.size()) throw std::runtime_error("KV snapshot: trailing bytes");
    return c;
  }
};

std::string KvCache::snapshot() const { return KvCacheIo::save(*this); }
KvCache KvCache::restore(const Config& c, const std::string& bytes) { return KvCacheIo::load(c, bytes); }

}  // namespace whalebox::model
