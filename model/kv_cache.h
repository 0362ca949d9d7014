#pragma once
// Per-sequence KV state (spec §14) in the production layout: every main KV entry (raw window
// entry or compressed entry) is nope dims as FP8 e4m3 + rope dims BF16 + one E8M0 scale per 64
// nope dims (584 B at V4 sizes); indexer keys are FP4 + one E8M0 per 32 (68 B). Compressed
// entries grow append-only in pages that forks share (copy-on-write of the last page); the
// window ring and the compressor states are small and copied.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace whalebox::model {

// How KV entries are stored.
//  Production: nope dims FP8 + rope dims BF16 + E8M0 scales (584 B at V4 sizes); FP4 indexer keys.
//  Exact:      the same with FP32 rope dims: bit-for-bit the FP32 reference with its FP8 KV and
//              FP4 indexer simulations on.
//  Plain:      FP32 entries and indexer keys, no rounding (the reference with simulations off).
enum class KvLayout : uint8_t { Production, Exact, Plain };

// Encoding of one main entry [head_dim floats] <-> bytes; encode rounds exactly like the
// reference FP8 simulation (so decode(encode(x)) == fp8_simulate on the nope dims).
struct KvEntryFormat {
  int head_dim = 0, rope_dim = 0, nope = 0;
  KvLayout layout = KvLayout::Production;
  int64_t bytes = 0;
  KvEntryFormat(const Config& c, KvLayout layout);
  void encode(const float* x, uint8_t* out) const;
  void decode(const uint8_t* in, float* x) const;
  // Production layout only, where bf16_kernels() exists: the entry in BF16 (fast-mode attention).
  void decode_bf16(const uint8_t* in, uint16_t* x) const;
};

// Indexer keys: FP4 e2m1 per value, E8M0 scale per 32 (the values are FP4-simulated); FP32 in
// the plain layout.
struct IndexKeyFormat {
  int dim = 0;
  bool plain = false;
  int64_t bytes = 0;
  IndexKeyFormat(const Config& c, KvLayout layout);
  void encode(const float* x, uint8_t* out) const;
  void decode(const uint8_t* in, float* x) const;
};

// Append-only array of fixed-size entries in shared pages.
class PagedEntries {
 public:
  static constexpr int64_t kPageEntries = 256;
  explicit PagedEntries(int64_t entry_bytes = 0) : entry_bytes_(entry_bytes) {}
  int64_t size() const { return count_; }
  int64_t entry_bytes() const { return entry_bytes_; }
  const uint8_t* at(int64_t i) const {
    return pages_[size_t(i / kPageEntries)]->data() + (i % kPageEntries) * entry_bytes_;
  }
  uint8_t* append();  // space for one more entry (copies the last page first if shared)
  int64_t pages_shared_with(const PagedEntries& other) const;

 private:
  int64_t entry_bytes_;
  int64_t count_ = 0;
  std::vector<std::shared_ptr<std::vector<uint8_t>>> pages_;
};

// Incremental state of one token-level compressor (spec §6): rows of values and gate logits.
struct CompressorState {
  int ratio = 0, width = 0, kappa = 1, rows = 0;
  std::vector<float> kv, score;  // [rows, kappa*width]
  void init(int ratio, int width);
};

struct LayerCache {
  int ratio = 0;
  std::vector<uint8_t> ring;  // window entries, slot = position % window
  CompressorState comp, index_comp;
  PagedEntries compressed, index_keys;
};

class KvCache {
 public:
  KvCache(const Config& c, KvLayout layout);
  KvLayout layout() const { return layout_; }
  int64_t length() const { return length_; }               // tokens processed
  const std::vector<int32_t>& tokens() const { return tokens_; }
  KvCache fork() const { return *this; }  // pages shared; appends copy on write
  std::string snapshot() const;           // self-describing bytes
  // Throws on a corrupt snapshot or another model's; the layout is recorded in the snapshot.
  static KvCache restore(const Config& c, const std::string& bytes);
  // KV bytes held (window rings + compressed entries + indexer keys; states separately).
  int64_t kv_bytes() const;
  int64_t state_bytes() const;

  std::vector<LayerCache> layers;  // main layers then MTP blocks
  // MTP: streams of the last position whose MTP step still needs the next token.
  std::vector<float> mtp_pending;
  int64_t mtp_length = 0;  // positions the MTP block has consumed
  bool dense = false;      // dense-attention baseline mode (benchmarks): BF16 full KV, no compression
  std::vector<std::vector<uint16_t>> dense_kv;  // [layer][position * head_dim] when dense

  // Used by the engine while appending.
  void push_token(int32_t t) { tokens_.push_back(t); ++length_; }
  void set_length_for_synthetic(int64_t n);  // benchmarks build long contexts synthetically

 private:
  int64_t length_ = 0;
  std::vector<int32_t> tokens_;
  uint64_t config_hash_ = 0;
  KvLayout layout_ = KvLayout::Production;
  friend class KvCacheIo;
};

uint64_t config_fingerprint(const Config& c);

}  // namespace whalebox::model
