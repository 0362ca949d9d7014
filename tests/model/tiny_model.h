#pragma once
// A small random V4 checkpoint written to disk for engine tests: every layer kind (window,
// CSA ratio 4, non-overlapping ratio 16 standing in for HCA's 128), hash and score routing,
// FP8 linears and FP4 experts in the released layout, and an MTP block.
#include <string>

namespace whalebox::model::testing {

inline std::string tiny_config_json(int window = 8, int topk = 3) {
  return R"({
  "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 1,
  "head_dim": 96, "qk_rope_head_dim": 32, "q_lora_rank": 64, "o_groups": 2, "o_lora_rank": 32,
  "sliding_window": )" + std::to_string(window) + R"(, "compress_ratios": [0, 4, 16, 4, 0],
  "index_n_heads": 2, "index_head_dim": 64, "index_topk": )" + std::to_string(topk) + R"(,
  "vocab_size": 300, "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2,
  "moe_intermediate_size": 64, "scoring_func": "sqrtsoftplus", "routed_scaling_factor": 1.5,
  "norm_topk_prob": true, "num_hash_layers": 1, "swiglu_limit": 10.0, "hc_mult": 4,
  "hc_sinkhorn_iters": 20, "hc_eps": 1e-6, "rms_norm_eps": 1e-6, "rope_theta": 10000,
  "compress_rope_theta": 160000,
  "rope_scaling": {"type": "yarn", "factor": 16, "original_max_position_embeddings": 65536,
                   "beta_fast": 32, "beta_slow": 1},
  "max_position_embeddings": 1048576, "num_nextn_predict_layers": 1, "expert_dtype": "fp4",
  "quantization_config": {"weight_block_size": [128, 128], "fmt": "e4m3", "scale_fmt": "ue8m0"},
  "bos_token_id": 0, "eos_token_id": 1
})";
}

}  // namespace whalebox::model::testing
