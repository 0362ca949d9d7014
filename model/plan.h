#pragma once
// The symbolic plan of a V4 checkpoint from its config alone: every tensor the checkpoint holds
// (official names, shapes, release dtypes), parameter counts, and KV-cache sizes (spec §14-15).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor.h"

namespace whalebox::model {

enum class LayerKind { Window, CSA, HCA };
const char* layer_kind_name(LayerKind k);
LayerKind layer_kind(const Config& c, int layer);

// One tensor of the released checkpoint. `params` counts logical weights (an FP4 byte holds 2).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // stored shape
  DType dtype;
  int64_t params;
  bool is_scale = false;     // block scales of the tensor before it
  bool routed_expert = false;
  bool mtp = false;
  int64_t numel_bytes() const {
    int64_t n = int64_t(dtype_size(dtype));
    for (auto d : shape) n *= d;
    return n;
  }
};

// Every tensor in the released layout (FP8 linears + E8M0 128x128 scales; experts per
// config.expert_dtype; wo_a FP8 as released).
std::vector<TensorSpec> checkpoint_tensors(const Config& c);

// Bytes of KV state per sequence for a context of n tokens (spec §14.1), main layers only.
struct KvBytes {
  int64_t compressed = 0;  // compressed main entries (584 B each at V4 sizes)
  int64_t indexer = 0;     // FP4 indexer keys (68 B each at V4 sizes)
  int64_t window = 0;      // raw window rings
  int64_t states = 0;      // fixed compressor states (FP32)
  int64_t total() const { return compressed + indexer + window; }
};
// Production layout: nope dims FP8 + rope dims BF16 + one E8M0 byte per 64 nope dims, padded.
int64_t kv_entry_bytes(const Config& c);
int64_t indexer_entry_bytes(const Config& c);  // FP4 values + one E8M0 byte per 32
KvBytes kv_bytes(const Config& c, int64_t n_tokens);

struct Plan {
  int64_t params_total = 0;   // main model (embed, blocks, head)
  int64_t params_mtp = 0;     // MTP blocks
  int64_t params_active = 0;  // per token: everything but the unselected routed experts
  std::vector<LayerKind> kinds;  // main layers then MTP
  std::map<std::string, int64_t> weight_bytes;  // by stored dtype, incl. MTP
  int64_t context = 0;
  KvBytes kv;
  double kv_bytes_per_token = 0;  // amortised at `context`
};

Plan make_plan(const Config& c, int64_t context);
std::string plan_json(const Config& c, const Plan& p);   // one JSON object
std::string plan_text(const Config& c, const Plan& p);   // human-readable

}  // namespace whalebox::model
