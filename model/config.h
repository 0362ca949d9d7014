#pragma once
// DeepSeek-V4 hyper-parameters, read from a HF config.json with the real field names (spec §1).
#include <cstdint>
#include <string>
#include <vector>

namespace whalebox::model {

struct Config {
  int hidden_size = 0;             // d
  int num_hidden_layers = 0;       // main blocks (the MTP blocks come after)
  int num_attention_heads = 0;     // H
  int num_key_value_heads = 1;     // always 1 (shared K=V head)
  int head_dim = 0;                // c
  int qk_rope_head_dim = 0;        // r: RoPE on the trailing r dims
  int q_lora_rank = 0;
  int o_groups = 0;
  int o_lora_rank = 0;
  int sliding_window = 0;
  std::vector<int> compress_ratios;  // per layer incl. MTP: 0 (window only), 4 (CSA), 128 (HCA)
  int index_n_heads = 0;
  int index_head_dim = 0;
  int index_topk = 0;
  int vocab_size = 0;
  int n_routed_experts = 0;
  int n_shared_experts = 1;
  int num_experts_per_tok = 0;
  int moe_intermediate_size = 0;
  std::string scoring_func = "sqrtsoftplus";
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = true;
  int num_hash_layers = 0;
  double swiglu_limit = 0;  // 0: no clamp
  int hc_mult = 4;
  int hc_sinkhorn_iters = 20;
  double hc_eps = 1e-6;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000;
  double compress_rope_theta = 160000;
  // YaRN (applies to layers with ratio != 0 only).
  double rope_factor = 1;
  int64_t rope_original_max_position = 0;
  double beta_fast = 32, beta_slow = 1;
  int64_t max_position_embeddings = 0;
  int num_nextn_predict_layers = 0;
  // Released instruct checkpoints store FP4 experts; the initial Flash config.json omits the
  // field, so FP4 is the default ("fp8" for Base checkpoints).
  std::string expert_dtype = "fp4";
  int weight_block_rows = 128, weight_block_cols = 128;  // FP8 weight scale blocks
  int bos_token_id = 0, eos_token_id = 1;

  int rope_dim() const { return qk_rope_head_dim; }
  int nope_dim() const { return head_dim - qk_rope_head_dim; }
  int total_blocks() const { return num_hidden_layers + num_nextn_predict_layers; }
  int ratio(int layer) const { return compress_ratios.at(layer); }
};

// Parses config.json text; throws std::runtime_error naming the missing/invalid field.
Config parse_config(const std::string& json_text);
Config load_config(const std::string& path);
// Throws when the fields are inconsistent (e.g. heads not divisible by o_groups).
void validate_config(const Config& c);

}  // namespace whalebox::model
