#include "model/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace whalebox::model {

using nlohmann::json;

namespace {

[[noreturn]] void wrong_type(const char* key, const json& v) {
  throw std::runtime_error(std::string("config.json: field '") + key + "' has the wrong type (" + v.type_name() + ")");
}

// A JSON number as integer type T, or an error naming the field: the library's own conversion
// of a float or a large integer that T cannot hold is undefined behaviour (1e30, 2^40 as int).
template <class T>
T integer(const json& v, const char* key) {
  static_assert(std::is_signed_v<T> && sizeof(T) <= sizeof(int64_t), "config fields are int or int64_t");
  constexpr T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {  // a non-negative integer (may exceed int64_t)
    if (v.get<uint64_t>() <= uint64_t(hi)) return T(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    if (v.get<int64_t>() >= lo && v.get<int64_t>() <= hi) return T(v.get<int64_t>());
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= double(lo) && d <= double(hi)) return T(d);
  } else {
    wrong_type(key, v);
  }
  throw std::runtime_error(std::string("config.json: field '") + key + "' is " + v.dump() +
                           ", not an integer of the supported range");
}

template <class T>
void convert(const json& v, const char* key, T& out) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    out = integer<T>(v, key);
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    if (!v.is_array()) wrong_type(key, v);
    out.clear();
    for (const json& e : v) out.push_back(integer<int>(e, key));
  } else {
    try {
      out = v.get<T>();
    } catch (const json::exception&) {
      wrong_type(key, v);
    }
  }
}

template <class T>
void take(const json& j, const char* key, T& out, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw std::runtime_error(std::string("config.json: missing field '") + key + "'");
    return;
  }
  convert(*it, key, out);
}

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("config.json: " + what);
}

}  // namespace

Config parse_config(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("config.json: not valid JSON: ") + e.what());
  }
  check(j.is_object(), "top level is not an object");
  Config c;
  take(j, "hidden_size", c.hidden_size, true);
  take(j, "num_hidden_layers", c.num_hidden_layers, true);
  take(j, "num_attention_heads", c.num_attention_heads, true);
  take(j, "num_key_value_heads", c.num_key_value_heads, false);
  take(j, "head_dim", c.head_dim, true);
  take(j, "qk_rope_head_dim", c.qk_rope_head_dim, true);
  take(j, "q_lora_rank", c.q_lora_rank, true);
  take(j, "o_groups", c.o_groups, true);
  take(j, "o_lora_rank", c.o_lora_rank, true);
  take(j, "sliding_window", c.sliding_window, true);
  take(j, "compress_ratios", c.compress_ratios, true);
  take(j, "index_n_heads", c.index_n_heads, true);
  take(j, "index_head_dim", c.index_head_dim, true);
  take(j, "index_topk", c.index_topk, true);
  take(j, "vocab_size", c.vocab_size, true);
  take(j, "n_routed_experts", c.n_routed_experts, true);
  take(j, "n_shared_experts", c.n_shared_experts, false);
  take(j, "num_experts_per_tok", c.num_experts_per_tok, true);
  take(j, "moe_intermediate_size", c.moe_intermediate_size, true);
  take(j, "scoring_func", c.scoring_func, false);
  take(j, "routed_scaling_factor", c.routed_scaling_factor, false);
  take(j, "norm_topk_prob", c.norm_topk_prob, false);
  take(j, "num_hash_layers", c.num_hash_layers, false);
  take(j, "swiglu_limit", c.swiglu_limit, false);
  take(j, "hc_mult", c.hc_mult, false);
  take(j, "hc_sinkhorn_iters", c.hc_sinkhorn_iters, false);
  take(j, "hc_eps", c.hc_eps, false);
  take(j, "rms_norm_eps", c.rms_norm_eps, false);
  take(j, "rope_theta", c.rope_theta, false);
  take(j, "compress_rope_theta", c.compress_rope_theta, false);
  take(j, "max_position_embeddings", c.max_position_embeddings, false);
  take(j, "num_nextn_predict_layers", c.num_nextn_predict_layers, false);
  take(j, "expert_dtype", c.expert_dtype, false);
  take(j, "bos_token_id", c.bos_token_id, false);
  take(j, "eos_token_id", c.eos_token_id, false);
  if (auto rs = j.find("rope_scaling"); rs != j.end() && rs->is_object()) {
    std::string type = "yarn";
    take(*rs, "type", type, false);
    check(type == "yarn", "rope_scaling.type '" + type + "' is not supported (only yarn)");
    take(*rs, "factor", c.rope_factor, true);
    take(*rs, "original_max_position_embeddings", c.rope_original_max_position, true);
    take(*rs, "beta_fast", c.beta_fast, false);
    take(*rs, "beta_slow", c.beta_slow, false);
  }
  if (auto q = j.find("quantization_config"); q != j.end() && q->is_object()) {
    std::vector<int> block;
    take(*q, "weight_block_size", block, false);
    if (!block.empty()) {
      check(block.size() == 2 && block[0] > 0 && block[1] > 0,
            "quantization_config.weight_block_size must be two positive ints");
      c.weight_block_rows = block[0];
      c.weight_block_cols = block[1];
    }
  }
  validate_config(c);
  return c;
}

void validate_config(const Config& c) {
  auto positive = [](int v, const char* name) {
    if (v <= 0) throw std::runtime_error(std::string("config.json: '") + name + "' must be > 0");
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.head_dim, "head_dim");
  positive(c.qk_rope_head_dim, "qk_rope_head_dim");
  positive(c.q_lora_rank, "q_lora_rank");
  positive(c.o_groups, "o_groups");
  positive(c.o_lora_rank, "o_lora_rank");
  positive(c.sliding_window, "sliding_window");
  positive(c.vocab_size, "vocab_size");
  positive(c.n_routed_experts, "n_routed_experts");
  positive(c.num_experts_per_tok, "num_experts_per_tok");
  positive(c.moe_intermediate_size, "moe_intermediate_size");
  positive(c.hc_mult, "hc_mult");
  check(c.num_key_value_heads == 1, "num_key_value_heads must be 1 (V4 shares one K=V head)");
  check(c.qk_rope_head_dim % 2 == 0 && c.qk_rope_head_dim < c.head_dim,
        "qk_rope_head_dim must be even and smaller than head_dim");
  check(c.nope_dim() % 64 == 0, "head_dim - qk_rope_head_dim must be a multiple of 64 (FP8 KV blocks)");
  check(c.num_attention_heads % c.o_groups == 0, "num_attention_heads must be divisible by o_groups");
  check(c.num_experts_per_tok <= c.n_routed_experts, "num_experts_per_tok > n_routed_experts");
  check(c.n_shared_experts == 0 || c.n_shared_experts == 1, "n_shared_experts must be 0 or 1");
  check(c.scoring_func == "sqrtsoftplus" || c.scoring_func == "softmax" || c.scoring_func == "sigmoid",
        "scoring_func '" + c.scoring_func + "' is not supported");
  check(c.expert_dtype == "fp4" || c.expert_dtype == "fp8" || c.expert_dtype == "bf16",
        "expert_dtype '" + c.expert_dtype + "' is not supported");
  check(int(c.compress_ratios.size()) == c.num_hidden_layers + c.num_nextn_predict_layers,
        "compress_ratios has " + std::to_string(c.compress_ratios.size()) + " entries, expected " +
            std::to_string(c.num_hidden_layers + c.num_nextn_predict_layers) +
            " (num_hidden_layers + num_nextn_predict_layers)");
  bool any_csa = false;
  for (int r : c.compress_ratios) {
    check(r == 0 || r == 4 || r == 128 || (r > 1 && r % 2 == 0),
          "compress_ratios entry " + std::to_string(r) + " is not 0 or an even ratio > 1");
    any_csa |= r == 4;
  }
  if (any_csa) {
    positive(c.index_n_heads, "index_n_heads");
    positive(c.index_head_dim, "index_head_dim");
    positive(c.index_topk, "index_topk");
    check(c.index_head_dim > c.qk_rope_head_dim && (c.index_head_dim & (c.index_head_dim - 1)) == 0,
          "index_head_dim must be a power of two larger than qk_rope_head_dim (Hadamard)");
    check(c.index_head_dim % 32 == 0, "index_head_dim must be a multiple of 32 (FP4 blocks)");
  }
  check(c.num_hash_layers <= c.num_hidden_layers, "num_hash_layers > num_hidden_layers");
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return parse_config(ss.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace whalebox::model
