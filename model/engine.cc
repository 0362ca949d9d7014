#include "model/engine.h"

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "model/kernels.h"
#include "model/mhc.h"
#include "model/moe.h"
#include "model/ops.h"
#include "model/thread_pool.h"

namespace whalebox::model {

namespace fs = std::filesystem;

std::unique_ptr<Model> Model::open(Config c, SafeTensors st, EngineOptions opts) {
  std::unique_ptr<Model> m(new Model());
  m->cfg_ = std::move(c);
  m->opts_ = opts;
  m->w_ = bind_weights(m->cfg_, std::move(st));
  for (int l = 0; l < m->cfg_.total_blocks(); ++l) m->ropes_.emplace_back(m->cfg_, m->cfg_.ratio(l));
  return m;
}

std::unique_ptr<Model> Model::load(const std::string& dir, EngineOptions opts) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir + ": not a model directory");
  Config c = load_config((fs::path(dir) / "config.json").string());
  auto m = open(std::move(c), SafeTensors::open(dir), opts);
  auto tok = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok)) m->tok_ = Tokenizer::load(tok.string());
  return m;
}

KvCache Model::new_cache(bool dense) const {
  KvCache c(cfg_, opts_.plain ? KvLayout::Plain : opts_.exact ? KvLayout::Exact : KvLayout::Production);
  c.dense = dense;
  if (dense) c.dense_kv.resize(size_t(cfg_.total_blocks()));
  return c;
}

void Model::block_forward(const BlockWeights& b, KvCache& cache, int slot, float* X, const int32_t* tokens,
                          int64_t pos0, int64_t T, Trace* trace) const {
  const int64_t d = cfg_.hidden_size, hd = int64_t(cfg_.hc_mult) * d;
  const float eps = float(cfg_.rms_norm_eps);
  // Sublayer input and output, reused per thread (fresh pages every layer would fault); both
  // are fully written before they are read.
  thread_local std::vector<float> u_reused, o_reused;
  std::vector<float>& u = u_reused;
  std::vector<float>& o = o_reused;
  u.resize(size_t(T * d)), o.resize(size_t(T * d));
  std::vector<HcMix> mix(static_cast<size_t>(T));
  // Per-token mHC and norms: independent across tokens, so prefill splits them over the pool
  // (each token's arithmetic is unchanged: decode and prefill stay bit-identical).
  auto pre = [&](const HcWeights& hc, const std::vector<float>& norm) {
    parallel_for(T, 8, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        hc_pre(cfg_, hc, X + i * hd, &u[size_t(i * d)], mix[size_t(i)]);
        rms_norm(&u[size_t(i * d)], norm.data(), &u[size_t(i * d)], d, eps);
      }
    });
  };
  auto post = [&] {
    parallel_for(T, 8, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) hc_post(cfg_, mix[size_t(i)], &o[size_t(i * d)], X + i * hd);
    });
  };
  // Attention sublayer.
  pre(b.hc_attn, b.attn_norm);
  AttentionCall call{cfg_, b, ropes_[size_t(b.index)], cache.layers[size_t(slot)]};
  call.dense_kv = cache.dense ? &cache.dense_kv[size_t(slot)] : nullptr;
  call.fp4_queries = opts_.exact;
  call.layout = cache.layout();
  call.inputs = fast() ? Inputs::BF16 : Inputs::F32;
  call.int8_indexer = fast();
  call.trace = trace;
  attention_forward(call, u.data(), pos0, T, o.data());
  post();
  // MoE sublayer.
  pre(b.hc_ffn, b.ffn_norm);
  moe_forward(cfg_, b, u.data(), tokens, T, o.data(), fast() ? Inputs::BF16 : Inputs::F32);
  post();
}

void Model::logits_for(const HcWeights& hc, const std::vector<float>& norm, const float* X, float* out) const {
  const int64_t d = cfg_.hidden_size;
  std::vector<float> z(static_cast<size_t>(d));
  hc_head(cfg_, hc, X, z.data());
  rms_norm(z.data(), norm.data(), z.data(), d, float(cfg_.rms_norm_eps));
  gemv(w_->head, z.data(), out, fast() ? Inputs::BF16 : Inputs::F32);
}

// MTP steps for positions p in [max(mtp_length, pos0-1), pos0+T-2]: input = main streams at p
// combined with the embedding of token p+1.
void Model::run_mtp(KvCache& cache, const std::vector<float>& X, int64_t pos0, int64_t T,
                    const std::vector<int32_t>& tokens, Logits* out) const {
  const BlockWeights& b = w_->mtp.at(0);
  const int64_t d = cfg_.hidden_size, hc = cfg_.hc_mult, hd = hc * d, V = cfg_.vocab_size;
  const float eps = float(cfg_.rms_norm_eps);
  const int64_t first = cache.mtp_length, last = pos0 + T - 2;
  if (last < first) return;
  if (first < pos0 - 1) throw std::logic_error("MTP steps were skipped for earlier positions (enable mtp before the first token)");
  const int64_t n = last - first + 1;
  std::vector<float> Y(size_t(n * hd)), e(static_cast<size_t>(d)), ep(static_cast<size_t>(d)), h(static_cast<size_t>(d)), hp(static_cast<size_t>(d));
  std::vector<int32_t> next(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = first + i;
    const float* Xp = p >= pos0 ? &X[size_t((p - pos0) * hd)] : cache.mtp_pending.data();
    if (p < pos0 && cache.mtp_pending.size() != size_t(hd)) throw std::logic_error("MTP state missing");
    next[size_t(i)] = tokens[size_t(p + 1 - pos0)];
    decode_row(w_->embed, next[size_t(i)], e.data());
    rms_norm(e.data(), b.enorm.data(), e.data(), d, eps);
    gemv(b.e_proj, e.data(), ep.data());
    for (int64_t j = 0; j < hc; ++j) {
      rms_norm(Xp + j * d, b.hnorm.data(), h.data(), d, eps);
      gemv(b.h_proj, h.data(), hp.data());
      float* y = &Y[size_t(i * hd + j * d)];
      for (int64_t k = 0; k < d; ++k) y[k] = ep[size_t(k)] + hp[size_t(k)];
    }
  }
  block_forward(b, cache, cfg_.num_hidden_layers, Y.data(), next.data(), first, n, nullptr);
  cache.mtp_length = last + 1;
  if (out) {
    size_t base = out->values.size();
    out->values.resize(base + size_t(n * V));
    for (int64_t i = 0; i < n; ++i) logits_for(b.hc_head, b.norm, &Y[size_t(i * hd)], &out->values[base + size_t(i * V)]);
    out->rows += n;
    out->vocab = V;
  }
}

Logits Model::forward(KvCache& cache, const std::vector<int32_t>& tokens, const ForwardOptions& fo) const {
  const int64_t d = cfg_.hidden_size, hc = cfg_.hc_mult, hd = hc * d, V = cfg_.vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= V)
      throw std::out_of_range("token id " + std::to_string(t) + " outside the vocabulary [0, " + std::to_string(V) + ")");
  if (cache.layers.size() != size_t(cfg_.total_blocks())) throw std::invalid_argument("KV cache of another model");
  Logits out;
  out.vocab = V;
  const bool mtp = opts_.mtp && !w_->mtp.empty() && !cache.dense;
  const int64_t chunk = std::max<int64_t>(1, opts_.prefill_chunk);
  for (size_t c0 = 0; c0 < tokens.size(); c0 += size_t(chunk)) {
    if (c0 > 0 && fo.stop_between_chunks && fo.stop_between_chunks()) break;
    const int64_t T = std::min<int64_t>(chunk, int64_t(tokens.size() - c0));
    const int64_t pos0 = cache.length();
    const int32_t* tk = tokens.data() + c0;
    std::vector<float> X(size_t(T * hd)), e(static_cast<size_t>(d));
    for (int64_t i = 0; i < T; ++i) {
      decode_row(w_->embed, tk[i], e.data());
      for (int64_t j = 0; j < hc; ++j) std::memcpy(&X[size_t(i * hd + j * d)], e.data(), sizeof(float) * size_t(d));
    }
    for (int l = 0; l < cfg_.num_hidden_layers; ++l) block_forward(w_->layers[size_t(l)], cache, l, X.data(), tk, pos0, T, fo.trace);
    for (int64_t i = 0; i < T; ++i) cache.push_token(tk[i]);
    if (mtp) {
      run_mtp(cache, X, pos0, T, std::vector<int32_t>(tk, tk + T), fo.mtp);
      cache.mtp_pending.assign(X.end() - hd, X.end());
    }
    const bool last_chunk = c0 + size_t(T) >= tokens.size();
    for (int64_t i = 0; i < T; ++i) {
      if (!fo.all_positions && !(last_chunk && i == T - 1)) continue;
      size_t base = out.values.size();
      out.values.resize(base + size_t(V));
      logits_for(w_->hc_head, w_->norm, &X[size_t(i * hd)], &out.values[base]);
      ++out.rows;
    }
  }
  return out;
}

}  // namespace whalebox::model
