#pragma once
// The weights of a V4 checkpoint bound by their official names, checked against config.json.
// Linear weights stay in the mapped file in whatever format they were stored (F32, BF16, FP8 +
// block scales, FP4 packed in I8 + 1x32 scales); small vectors (norms, mHC, biases) are
// converted to FP32 once.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"
#include "model/tensor.h"

namespace whalebox::model {

struct HcWeights {
  std::vector<float> fn, base, scale;  // fn [outs, hc*d]
};

struct CompressorWeights {
  Weight wkv, wgate;        // [kappa*width, d]
  std::vector<float> ape;   // [ratio, kappa*width]
  std::vector<float> norm;  // [width]
};

struct ExpertWeights {
  Weight w1, w2, w3;
};

struct BlockWeights {
  int index = 0;  // layer index into compress_ratios
  int ratio = 0;
  bool hashed = false;
  std::vector<float> attn_norm, ffn_norm;
  HcWeights hc_attn, hc_ffn;
  Weight wq_a, wq_b, wkv, wo_a, wo_b;
  std::vector<float> q_norm, kv_norm, attn_sink;
  std::optional<CompressorWeights> compressor;
  // Indexer (ratio 4 only).
  Weight idx_wq_b, idx_weights_proj;
  std::optional<CompressorWeights> idx_compressor;
  // MoE.
  Weight gate;
  std::vector<float> gate_bias;
  std::vector<int32_t> tid2eid;  // [vocab, k] for hash layers
  std::vector<ExpertWeights> experts;
  std::optional<ExpertWeights> shared;
  // MTP extras.
  Weight e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  HcWeights hc_head;
};

struct ModelWeights {
  Weight embed, head;
  std::vector<float> norm;
  HcWeights hc_head;
  std::vector<BlockWeights> layers;
  std::vector<BlockWeights> mtp;
  SafeTensors file;
  size_t weight_bytes_per_token = 0;  // bytes one decode step reads (active experts only)
};

// Binds and validates every tensor; throws naming the tensor and expected vs found.
std::unique_ptr<ModelWeights> bind_weights(const Config& c, SafeTensors st);

}  // namespace whalebox::model
