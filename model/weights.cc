#include "model/weights.h"

#include <stdexcept>

#include "model/kernels.h"
#include "model/quant.h"

namespace whalebox::model {

namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

[[noreturn]] void mismatch(const TensorView& t, const std::string& expected) {
  throw std::runtime_error("tensor '" + t.name + "': expected " + expected + ", found " + dtype_name(t.dtype) + " " +
                           shape_str(t.shape));
}

struct Binder {
  const Config& c;
  const SafeTensors& st;

  // A linear layer [rows, cols] stored as F32, BF16, FP8 (+scale) or FP4-in-I8 (+scale).
  Weight linear(const std::string& name, int64_t rows, int64_t cols) {
    const TensorView& t = st.get(name + ".weight");
    Weight w;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    std::string want = "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
    switch (t.dtype) {
      case DType::F32: w.format = WeightFormat::F32; break;
      case DType::BF16: w.format = WeightFormat::BF16; break;
      case DType::F8_E4M3: w.format = WeightFormat::FP8; break;
      case DType::I8: case DType::U8: w.format = WeightFormat::FP4; break;
      default: mismatch(t, "F32/BF16/F8_E4M3/I8(FP4) " + want);
    }
    if (w.format == WeightFormat::FP4) {
      if (cols % 32 || t.shape != std::vector<int64_t>{rows, cols / 2})
        mismatch(t, "I8 (packed FP4) [" + std::to_string(rows) + ", " + std::to_string(cols / 2) + "]");
    } else if (t.shape != std::vector<int64_t>{rows, cols}) {
      mismatch(t, std::string(dtype_name(t.dtype)) + " " + want);
    }
    if (w.format == WeightFormat::FP8 || w.format == WeightFormat::FP4) {
      const TensorView* s = st.find(name + ".scale");
      if (!s) throw std::runtime_error("tensor '" + name + ".scale' not found (needed by " + t.name + ")");
      std::vector<int64_t> shape;
      if (w.format == WeightFormat::FP8) {
        w.block_rows = c.weight_block_rows;
        w.block_cols = c.weight_block_cols;
        shape = {cdiv(rows, w.block_rows), cdiv(cols, w.block_cols)};
      } else {
        w.block_rows = 1;
        w.block_cols = 32;
        shape = {rows, cols / 32};
      }
      if ((s->dtype != DType::F8_E8M0 && s->dtype != DType::F32 && s->dtype != DType::U8) || s->shape != shape)
        mismatch(*s, std::string("F8_E8M0 or F32 ") + shape_str(shape));
      w.scale = s->data;
      w.scale_is_f32 = s->dtype == DType::F32;
      w.scale_cols = shape[1];
    }
    w.bf16_exact = widens_exactly_to_bf16(w);
    return w;
  }

  // Small parameter vector of n values (F32 or BF16) converted to FP32.
  std::vector<float> vec(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = st.get(name);
    if ((t.dtype != DType::F32 && t.dtype != DType::BF16) || t.shape != shape)
      mismatch(t, "F32 or BF16 " + shape_str(shape));
    std::vector<float> v(size_t(t.numel()));
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = t.dtype == DType::F32 ? t.load<float>(i) : bf16_to_float(t.load<uint16_t>(i));
    return v;
  }

  HcWeights hc(const std::string& p, int outs) {
    int64_t hd = int64_t(c.hc_mult) * c.hidden_size;
    return {vec(p + "_fn", {outs, hd}), vec(p + "_base", {outs}), vec(p + "_scale", {outs == c.hc_mult ? 1 : 3})};
  }

  CompressorWeights compressor(const std::string& p, int width, int ratio) {
    int64_t kw = int64_t(ratio == 4 ? 2 : 1) * width;
    return {linear(p + ".wkv", kw, c.hidden_size), linear(p + ".wgate", kw, c.hidden_size),
            vec(p + ".ape", {ratio, kw}), vec(p + ".norm.weight", {width})};
  }

  ExpertWeights expert(const std::string& p) {
    const int64_t I = c.moe_intermediate_size, d = c.hidden_size;
    return {linear(p + ".w1", I, d), linear(p + ".w2", d, I), linear(p + ".w3", I, d)};
  }

  BlockWeights block(const std::string& p, int layer, bool mtp) {
    BlockWeights b;
    const int64_t d = c.hidden_size, H = c.num_attention_heads, hd = c.head_dim;
    b.index = layer;
    b.ratio = c.ratio(layer);
    b.hashed = !mtp && layer < c.num_hash_layers;
    const int hcn = (2 + c.hc_mult) * c.hc_mult;
    b.attn_norm = vec(p + "attn_norm.weight", {d});
    b.ffn_norm = vec(p + "ffn_norm.weight", {d});
    b.hc_attn = hc(p + "hc_attn", hcn);
    b.hc_ffn = hc(p + "hc_ffn", hcn);
    b.wq_a = linear(p + "attn.wq_a", c.q_lora_rank, d);
    b.q_norm = vec(p + "attn.q_norm.weight", {c.q_lora_rank});
    b.wq_b = linear(p + "attn.wq_b", H * hd, c.q_lora_rank);
    b.wkv = linear(p + "attn.wkv", hd, d);
    b.kv_norm = vec(p + "attn.kv_norm.weight", {hd});
    b.wo_a = linear(p + "attn.wo_a", int64_t(c.o_groups) * c.o_lora_rank, H * hd / c.o_groups);
    b.wo_b = linear(p + "attn.wo_b", d, int64_t(c.o_groups) * c.o_lora_rank);
    b.attn_sink = vec(p + "attn.attn_sink", {H});
    if (b.ratio) b.compressor = compressor(p + "attn.compressor", int(hd), b.ratio);
    if (b.ratio == 4) {
      b.idx_wq_b = linear(p + "attn.indexer.wq_b", int64_t(c.index_n_heads) * c.index_head_dim, c.q_lora_rank);
      b.idx_weights_proj = linear(p + "attn.indexer.weights_proj", c.index_n_heads, d);
      b.idx_compressor = compressor(p + "attn.indexer.compressor", c.index_head_dim, 4);
    }
    b.gate = linear(p + "ffn.gate", c.n_routed_experts, d);
    if (b.hashed) {
      const TensorView& t = st.get(p + "ffn.gate.tid2eid");
      std::vector<int64_t> shape{c.vocab_size, c.num_experts_per_tok};
      if ((t.dtype != DType::I64 && t.dtype != DType::I32) || t.shape != shape)
        mismatch(t, "I64 or I32 " + shape_str(shape));
      b.tid2eid.resize(size_t(t.numel()));
      for (size_t i = 0; i < b.tid2eid.size(); ++i) {
        int64_t e = t.dtype == DType::I64 ? t.load<int64_t>(i) : t.load<int32_t>(i);
        if (e < 0 || e >= c.n_routed_experts)
          throw std::runtime_error("tensor '" + t.name + "': expert id " + std::to_string(e) + " at index " +
                                   std::to_string(i) + " is out of range [0, " + std::to_string(c.n_routed_experts) + ")");
        b.tid2eid[i] = int32_t(e);
      }
    } else {
      b.gate_bias = vec(p + "ffn.gate.bias", {c.n_routed_experts});
    }
    for (int e = 0; e < c.n_routed_experts; ++e) b.experts.push_back(expert(p + "ffn.experts." + std::to_string(e)));
    if (c.n_shared_experts) b.shared = expert(p + "ffn.shared_experts");
    if (mtp) {
      b.e_proj = linear(p + "e_proj", d, d);
      b.h_proj = linear(p + "h_proj", d, d);
      b.enorm = vec(p + "enorm.weight", {d});
      b.hnorm = vec(p + "hnorm.weight", {d});
      b.norm = vec(p + "norm.weight", {d});
      b.hc_head = hc(p + "hc_head", c.hc_mult);
    }
    return b;
  }
};

size_t block_bytes_per_token(const Config& c, const BlockWeights& b) {
  size_t n = b.wq_a.bytes() + b.wq_b.bytes() + b.wkv.bytes() + b.wo_a.bytes() + b.wo_b.bytes() + b.gate.bytes();
  n += (b.hc_attn.fn.size() + b.hc_ffn.fn.size()) * sizeof(float);  // mHC mixing weights, FP32
  if (b.compressor) n += b.compressor->wkv.bytes() + b.compressor->wgate.bytes();
  if (b.idx_compressor)
    n += b.idx_wq_b.bytes() + b.idx_weights_proj.bytes() + b.idx_compressor->wkv.bytes() + b.idx_compressor->wgate.bytes();
  const auto& e = b.experts.at(0);
  n += size_t(c.num_experts_per_tok) * (e.w1.bytes() + e.w2.bytes() + e.w3.bytes());
  if (b.shared) n += b.shared->w1.bytes() + b.shared->w2.bytes() + b.shared->w3.bytes();
  return n;
}

}  // namespace

std::unique_ptr<ModelWeights> bind_weights(const Config& c, SafeTensors st) {
  auto m = std::make_unique<ModelWeights>();
  m->file = std::move(st);
  Binder b{c, m->file};
  const int64_t d = c.hidden_size;
  m->embed = b.linear("embed", c.vocab_size, d);
  m->head = b.linear("head", c.vocab_size, d);
  m->norm = b.vec("norm.weight", {d});
  m->hc_head = b.hc("hc_head", c.hc_mult);
  for (int i = 0; i < c.num_hidden_layers; ++i) m->layers.push_back(b.block("layers." + std::to_string(i) + ".", i, false));
  for (int k = 0; k < c.num_nextn_predict_layers; ++k) {
    // MTP blocks are optional at run time: a checkpoint without them still runs.
    if (!m->file.find("mtp." + std::to_string(k) + ".attn_norm.weight")) break;
    m->mtp.push_back(b.block("mtp." + std::to_string(k) + ".", c.num_hidden_layers + k, true));
  }
  m->weight_bytes_per_token = m->head.bytes() + size_t(d) * 2 + m->hc_head.fn.size() * sizeof(float);
  for (auto& l : m->layers) m->weight_bytes_per_token += block_bytes_per_token(c, l);
  return m;
}

}  // namespace whalebox::model
