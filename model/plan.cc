#include "model/plan.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace whalebox::model {

const char* layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Window: return "window";
    case LayerKind::CSA: return "csa";
    case LayerKind::HCA: return "hca";
  }
  return "?";
}

LayerKind layer_kind(const Config& c, int layer) {
  int r = c.ratio(layer);
  return r == 0 ? LayerKind::Window : r == 4 ? LayerKind::CSA : LayerKind::HCA;
}

namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Builder {
  const Config& c;
  std::vector<TensorSpec> out;
  bool mtp = false;

  void plain(const std::string& name, std::vector<int64_t> shape, DType t) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    out.push_back({name, std::move(shape), t, n, false, false, mtp});
  }
  // Linear weight [rows, cols] in the given release format.
  void linear(const std::string& name, int64_t rows, int64_t cols, const std::string& fmt, bool expert = false) {
    if (fmt == "bf16") {
      plain(name + ".weight", {rows, cols}, DType::BF16);
    } else if (fmt == "fp8") {
      out.push_back({name + ".weight", {rows, cols}, DType::F8_E4M3, rows * cols, false, expert, mtp});
      out.push_back({name + ".scale", {cdiv(rows, c.weight_block_rows), cdiv(cols, c.weight_block_cols)},
                     DType::F8_E8M0, 0, true, expert, mtp});
    } else {  // fp4: two values per byte along K, one E8M0 per 1x32
      out.push_back({name + ".weight", {rows, cols / 2}, DType::I8, rows * cols, false, expert, mtp});
      out.push_back({name + ".scale", {rows, cols / 32}, DType::F8_E8M0, 0, true, expert, mtp});
    }
  }
  void hc(const std::string& p, int outs) {
    int64_t hd = int64_t(c.hc_mult) * c.hidden_size;
    plain(p + "_fn", {outs, hd}, DType::F32);
    plain(p + "_base", {outs}, DType::F32);
    plain(p + "_scale", {outs == c.hc_mult ? 1 : 3}, DType::F32);
  }
  void compressor(const std::string& p, int width, int ratio) {
    int64_t kw = int64_t(ratio == 4 ? 2 : 1) * width;
    plain(p + ".wkv.weight", {kw, c.hidden_size}, DType::BF16);
    plain(p + ".wgate.weight", {kw, c.hidden_size}, DType::BF16);
    plain(p + ".ape", {ratio, kw}, DType::F32);
    plain(p + ".norm.weight", {width}, DType::BF16);
  }
  void block(const std::string& p, int layer) {
    const int64_t d = c.hidden_size, H = c.num_attention_heads, hd = c.head_dim;
    const int hcn = (2 + c.hc_mult) * c.hc_mult;
    const int ratio = c.ratio(layer);
    plain(p + "attn_norm.weight", {d}, DType::BF16);
    plain(p + "ffn_norm.weight", {d}, DType::BF16);
    hc(p + "hc_attn", hcn);
    hc(p + "hc_ffn", hcn);
    linear(p + "attn.wq_a", c.q_lora_rank, d, "fp8");
    plain(p + "attn.q_norm.weight", {c.q_lora_rank}, DType::BF16);
    linear(p + "attn.wq_b", H * hd, c.q_lora_rank, "fp8");
    linear(p + "attn.wkv", hd, d, "fp8");
    plain(p + "attn.kv_norm.weight", {hd}, DType::BF16);
    linear(p + "attn.wo_a", int64_t(c.o_groups) * c.o_lora_rank, H * hd / c.o_groups, "fp8");
    linear(p + "attn.wo_b", d, int64_t(c.o_groups) * c.o_lora_rank, "fp8");
    plain(p + "attn.attn_sink", {H}, DType::F32);
    if (ratio != 0) compressor(p + "attn.compressor", hd, ratio);
    if (ratio == 4) {
      linear(p + "attn.indexer.wq_b", int64_t(c.index_n_heads) * c.index_head_dim, c.q_lora_rank, "fp8");
      plain(p + "attn.indexer.weights_proj.weight", {c.index_n_heads, d}, DType::BF16);
      compressor(p + "attn.indexer.compressor", c.index_head_dim, 4);
    }
    plain(p + "ffn.gate.weight", {c.n_routed_experts, d}, DType::BF16);
    if (!mtp && layer < c.num_hash_layers)
      plain(p + "ffn.gate.tid2eid", {c.vocab_size, c.num_experts_per_tok}, DType::I64);
    else
      plain(p + "ffn.gate.bias", {c.n_routed_experts}, DType::F32);
    const int64_t I = c.moe_intermediate_size;
    for (int e = 0; e < c.n_routed_experts; ++e) {
      std::string ep = p + "ffn.experts." + std::to_string(e);
      linear(ep + ".w1", I, d, c.expert_dtype, true);
      linear(ep + ".w2", d, I, c.expert_dtype, true);
      linear(ep + ".w3", I, d, c.expert_dtype, true);
    }
    if (c.n_shared_experts) {
      linear(p + "ffn.shared_experts.w1", I, d, "fp8");
      linear(p + "ffn.shared_experts.w2", d, I, "fp8");
      linear(p + "ffn.shared_experts.w3", I, d, "fp8");
    }
  }
};

}  // namespace

std::vector<TensorSpec> checkpoint_tensors(const Config& c) {
  Builder b{c, {}};
  const int64_t d = c.hidden_size;
  b.plain("embed.weight", {c.vocab_size, d}, DType::BF16);
  for (int i = 0; i < c.num_hidden_layers; ++i) b.block("layers." + std::to_string(i) + ".", i);
  b.plain("norm.weight", {d}, DType::BF16);
  b.plain("head.weight", {c.vocab_size, d}, DType::BF16);
  b.hc("hc_head", c.hc_mult);
  b.mtp = true;
  for (int k = 0; k < c.num_nextn_predict_layers; ++k) {
    std::string p = "mtp." + std::to_string(k) + ".";
    b.block(p, c.num_hidden_layers + k);
    b.linear(p + "e_proj", d, d, "fp8");
    b.linear(p + "h_proj", d, d, "fp8");
    b.plain(p + "enorm.weight", {d}, DType::BF16);
    b.plain(p + "hnorm.weight", {d}, DType::BF16);
    b.plain(p + "norm.weight", {d}, DType::BF16);
    b.hc(p + "hc_head", c.hc_mult);
  }
  return b.out;
}

int64_t kv_entry_bytes(const Config& c) {
  int64_t nope = c.nope_dim();
  int64_t raw = nope + 2 * int64_t(c.rope_dim()) + nope / 64;
  return (raw + 7) / 8 * 8;  // 448 + 128 + 7 -> 584 at V4 sizes
}

int64_t indexer_entry_bytes(const Config& c) { return c.index_head_dim / 2 + c.index_head_dim / 32; }

KvBytes kv_bytes(const Config& c, int64_t n) {
  KvBytes kv;
  const int64_t e = kv_entry_bytes(c), ie = indexer_entry_bytes(c);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    int r = c.ratio(l);
    kv.window += std::min<int64_t>(n, c.sliding_window) * e;
    if (r == 0) continue;
    kv.compressed += (n / r) * e;
    int64_t kw = (r == 4 ? 2 : 1) * int64_t(c.head_dim);
    int64_t rows = r == 4 ? 2 * r : r;
    kv.states += rows * kw * 2 * 4;
    if (r == 4) {
      kv.indexer += (n / r) * ie;
      kv.states += int64_t(2 * r) * 2 * c.index_head_dim * 2 * 4;
    }
  }
  return kv;
}

Plan make_plan(const Config& c, int64_t context) {
  Plan p;
  p.context = context;
  for (int l = 0; l < c.total_blocks(); ++l) p.kinds.push_back(layer_kind(c, l));
  int64_t experts = 0;
  for (const auto& t : checkpoint_tensors(c)) {
    p.weight_bytes[dtype_name(t.dtype)] += t.numel_bytes();
    if (t.mtp) { p.params_mtp += t.params; continue; }
    p.params_total += t.params;
    if (t.routed_expert) experts += t.params;
    else if (t.name.find(".tid2eid") == std::string::npos) p.params_active += t.params;
  }
  p.params_active += experts / c.n_routed_experts * c.num_experts_per_tok;
  p.kv = kv_bytes(c, context);
  p.kv_bytes_per_token = context > 0 ? double(p.kv.total()) / double(context) : 0;
  return p;
}

std::string plan_json(const Config& c, const Plan& p) {
  nlohmann::json j;
  j["params"] = {{"total", p.params_total}, {"active", p.params_active}, {"mtp", p.params_mtp}};
  nlohmann::json layers = nlohmann::json::array();
  std::map<std::string, int> counts;
  for (size_t i = 0; i < p.kinds.size(); ++i) {
    bool mtp = int(i) >= c.num_hidden_layers;
    layers.push_back({{"index", i}, {"kind", layer_kind_name(p.kinds[i])}, {"ratio", c.ratio(i)}, {"mtp", mtp}});
    if (!mtp) counts[layer_kind_name(p.kinds[i])]++;
  }
  j["layers"] = layers;
  j["layer_counts"] = counts;
  j["weight_bytes"] = p.weight_bytes;
  int64_t wsum = 0;
  for (auto& [k, v] : p.weight_bytes) wsum += v;
  j["weight_bytes_total"] = wsum;
  j["kv"] = {{"context", p.context},
             {"entry_bytes", kv_entry_bytes(c)},
             {"indexer_entry_bytes", indexer_entry_bytes(c)},
             {"compressed_bytes", p.kv.compressed},
             {"indexer_bytes", p.kv.indexer},
             {"window_bytes", p.kv.window},
             {"total_bytes", p.kv.total()},
             {"bytes_per_token", p.kv_bytes_per_token},
             {"compressor_state_bytes", p.kv.states}};
  return j.dump();
}

namespace {

std::string human(double v, const char* unit, double base = 1000) {
  const char* pre[] = {"", "K", "M", "G", "T", "P"};
  int i = 0;
  while (v >= base && i < 5) { v /= base; ++i; }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s%s%s", v, pre[i], base == 1024 && i ? "i" : "", unit);
  return buf;
}

}  // namespace

std::string plan_text(const Config& c, const Plan& p) {
  std::string s;
  s += "parameters: " + human(double(p.params_total), "") + "total, " + human(double(p.params_active), "") +
       "active per token, " + human(double(p.params_mtp), "") + "in MTP\n";
  s += "layers:";
  for (size_t i = 0; i < p.kinds.size(); ++i) {
    if (i % 16 == 0) s += "\n ";
    s += " " + std::to_string(i) + ":" + layer_kind_name(p.kinds[i]) + (int(i) >= c.num_hidden_layers ? "(mtp)" : "");
  }
  s += "\nweights by dtype:\n";
  for (auto& [k, v] : p.weight_bytes) s += "  " + k + ": " + human(double(v), "B", 1024) + "\n";
  s += "KV cache at " + std::to_string(p.context) + " tokens (entry " + std::to_string(kv_entry_bytes(c)) +
       " B, indexer key " + std::to_string(indexer_entry_bytes(c)) + " B):\n";
  s += "  compressed " + human(double(p.kv.compressed), "B", 1024) + ", indexer " +
       human(double(p.kv.indexer), "B", 1024) + ", windows " + human(double(p.kv.window), "B", 1024) +
       ", total " + human(double(p.kv.total()), "B", 1024) + "\n";
  char buf[128];
  std::snprintf(buf, sizeof buf, "  %.0f bytes per token; compressor states %s per sequence\n",
                p.kv_bytes_per_token, human(double(p.kv.states), "B", 1024).c_str());
  s += buf;
  return s;
}

}  // namespace whalebox::model
