#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "model/compressor.h"
#include "model/indexer.h"
#include "model/kernels.h"
#include "model/ops.h"
#include "model/quant.h"
#include "model/thread_pool.h"

namespace whalebox::model {

namespace {

// One joint softmax with a sink logit per head over S keys (K = V), q [H, hd]. Keys are decoded
// a chunk at a time (`key(u, f32, bf16)` writes key u as FP32 or BF16, whichever is not null)
// into a per-thread buffer and used twice
// while it is in cache: q.K scores, then P.V after an online-softmax rescale. Each part (a
// contiguous range of chunks fixed by S and the thread count, not by timing) keeps its own
// running max, denominator and output; parts are merged in order, with the sink.
// With bk (fast mode), q.K and P.V run on BF16: keys widen exactly (KV entries are FP8 times
// a power of two, or BF16), q and the probabilities are rounded; the denominator sums the
// rounded probabilities, so they stay normalised.
using KeyFn = std::function<void(int64_t, float*, uint16_t*)>;
void attend(const float* q, int64_t S, const KeyFn& key, const float* sink, int H, int hd, const Bf16Kernels* bk,
            float* o) {
  // 32 keys per chunk: P.V reloads its accumulators once per chunk, so longer chunks amortise
  // that; 32 decoded keys (64 KB as BF16 keys + pairs at hd 512) stay in L2 for both passes.
  constexpr int64_t kChunk = 32;
  const float scale = 1.0f / std::sqrt(float(hd));
  const int64_t chunks = (S + kChunk - 1) / kChunk;
  // A few parts per thread, claimed dynamically: a thread that is descheduled (busy machine)
  // holds up less. The split depends only on S and the thread count, so results stay fixed.
  const int parts = int(std::min<int64_t>(chunks, 4 * int64_t(thread_count())));
  // Reused per thread (hundreds of KB at V4 sizes: fresh pages per call would fault).
  thread_local std::vector<float> acc, mx, den;
  acc.resize(size_t(parts) * H * hd), mx.resize(size_t(parts) * H), den.resize(size_t(parts) * H);  // set per part
  // The caller's buffers, by pointer: inside the pool's lambda the thread_local names would
  // be the worker's own.
  float* a0 = acc.data();
  float* m0 = mx.data();
  float* l0 = den.data();
  std::vector<uint16_t> qb(bk ? size_t(H * hd) : 0);
  if (bk) bk->round_inputs(q, H * hd, qb.data());
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> kbuf, sc;  // per thread: no page faults per chunk
    thread_local std::vector<uint16_t> kb, kp, pb;
    kbuf.resize(size_t(kChunk * hd));
    sc.resize(size_t(kChunk * H));
    if (bk) kb.resize(size_t(kChunk * hd)), kp.resize(size_t(kChunk * hd)), pb.resize(size_t(kChunk * H));
    for (int64_t p = p0; p < p1; ++p) {
      float* a = a0 + size_t(p * H * hd);
      float* m = m0 + size_t(p * H);
      float* l = l0 + size_t(p * H);
      std::fill(a, a + H * hd, 0.0f), std::fill(m, m + H, -INFINITY), std::fill(l, l + H, 0.0f);
      for (int64_t ch = chunks * p / parts; ch < chunks * (p + 1) / parts; ++ch) {
        const int64_t u0 = ch * kChunk, n = std::min(kChunk, S - u0);
        const int64_t n2 = (n + 1) / 2 * 2;
        if (bk) {
          for (int64_t u = 0; u < n; ++u) key(u0 + u, nullptr, &kb[size_t(u * hd)]);
          bk->attn_key_pairs(kb.data(), n, hd, kp.data());
          bk->attn_scores(qb.data(), kb.data(), n, H, hd, scale, sc.data());
        } else {
          for (int64_t u = 0; u < n; ++u) key(u0 + u, &kbuf[size_t(u * hd)], nullptr);
          attn_scores(q, kbuf.data(), n, H, hd, scale, sc.data());  // sc[h * n + u]
        }
        if (bk) {
          bk->attn_softmax(sc.data(), n, H, hd, m, l, a, pb.data(), n2);
          bk->attn_pv(pb.data(), kp.data(), n2, H, hd, a);
          continue;
        }
        for (int h = 0; h < H; ++h) {
          float* sh = &sc[size_t(h * n)];
          float cm = m[h];
          for (int64_t u = 0; u < n; ++u) cm = std::max(cm, sh[u]);
          if (cm > m[h]) {
            if (m[h] != -INFINITY) {
              const float r = std::exp(m[h] - cm);
              l[h] *= r;
              for (int64_t e = 0; e < hd; ++e) a[h * hd + e] *= r;
            }
            m[h] = cm;
          }
          for (int64_t u = 0; u < n; ++u) l[h] += (sh[u] = std::exp(sh[u] - cm));
        }
        attn_pv(sc.data(), kbuf.data(), n, H, hd, a);
      }
    }
  });
  for (int h = 0; h < H; ++h) {
    float M = sink[h];
    for (int p = 0; p < parts; ++p) M = std::max(M, mx[size_t(p * H + h)]);
    float total = std::exp(sink[h] - M);
    float* oh = o + size_t(h) * hd;
    for (int64_t e = 0; e < hd; ++e) oh[e] = 0;
    for (int p = 0; p < parts; ++p) {
      const float r = std::exp(mx[size_t(p * H + h)] - M);
      total += den[size_t(p * H + h)] * r;
      axpy(oh, r, &acc[size_t((p * H + h) * hd)], hd);
    }
    for (int64_t e = 0; e < hd; ++e) oh[e] /= total;
  }
}

}  // namespace

void attention_forward(const AttentionCall& call, const float* a, int64_t pos0, int64_t T, float* out) {
  const Config& c = call.c;
  const BlockWeights& b = call.b;
  LayerCache& lc = call.cache;
  const int64_t H = c.num_attention_heads, hd = c.head_dim, dq = c.q_lora_rank;
  const int win = c.sliding_window, ratio = b.ratio;
  const float eps = float(c.rms_norm_eps);
  KvEntryFormat fmt(c, call.layout);
  const bool plain = call.layout == KvLayout::Plain;

  // Query path: c_Q = q_norm(wq_a a); q = wq_b c_Q; per-head weight-free RMS; RoPE.
  // q and o are reused per thread (8 MB each per 256-token chunk at bench sizes: fresh pages
  // every layer would fault); both are fully written before they are read.
  thread_local std::vector<float> q_reused, o_reused;
  std::vector<float>& q = q_reused;
  q.resize(size_t(T * H * hd));
  std::vector<float> cq(size_t(T * dq)), kv(size_t(T * hd));
  // Every projection of a as one pool job, then those of c_Q (compressor and indexer included).
  std::vector<float> CA, CG, IA, IG, qI, wI;
  const int ni = c.index_n_heads, ci = c.index_head_dim;
  std::vector<GemmCall> of_a = {{&b.wq_a, a, T, cq.data()}, {&b.wkv, a, T, kv.data()}}, of_cq = {{&b.wq_b, nullptr, T, q.data()}};
  if (ratio && !call.dense_kv) {
    int64_t kw = b.compressor->wkv.rows;
    CA.resize(size_t(T * kw));
    CG.resize(size_t(T * kw));
    of_a.push_back({&b.compressor->wkv, a, T, CA.data()});
    of_a.push_back({&b.compressor->wgate, a, T, CG.data()});
  }
  if (ratio == 4 && !call.dense_kv) {
    int64_t kw = b.idx_compressor->wkv.rows;
    IA.resize(size_t(T * kw));
    IG.resize(size_t(T * kw));
    qI.resize(size_t(T * ni * ci));
    wI.resize(size_t(T * ni));
    of_a.push_back({&b.idx_compressor->wkv, a, T, IA.data()});
    of_a.push_back({&b.idx_compressor->wgate, a, T, IG.data()});
    of_a.push_back({&b.idx_weights_proj, a, T, wI.data()});
    of_cq.push_back({&b.idx_wq_b, nullptr, T, qI.data()});
  }
  gemm_batch(of_a.data(), of_a.size(), call.inputs);
  rms_norm_rows(cq.data(), b.q_norm.data(), cq.data(), T, dq, eps);
  for (auto& g : of_cq) g.X = cq.data();
  gemm_batch(of_cq.data(), of_cq.size(), call.inputs);
  if (ratio == 4 && !call.dense_kv) {
    const float wscale = 1.0f / std::sqrt(float(ci)) / std::sqrt(float(ni));
    for (auto& v : wI) v *= wscale;
  }
  // Per-token norms and RoPE split over the pool in prefill (per-token arithmetic unchanged).
  parallel_for(T, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* qi = &q[size_t(i * H * hd)];
      for (int64_t h = 0; h < H; ++h) rms_norm(qi + h * hd, nullptr, qi + h * hd, hd, eps);
      call.rope.apply(qi, int(hd), pos0 + i, false, int(H), hd);
      // KV path: kv_norm(wkv a), RoPE (FP8 rounding happens when the entry is stored).
      float* kv_i = &kv[size_t(i * hd)];
      rms_norm(kv_i, b.kv_norm.data(), kv_i, hd, eps);
      call.rope.apply(kv_i, int(hd), pos0 + i);
    }
  });

  std::vector<float>& o = o_reused;
  o.resize(size_t(T * H * hd));
  std::vector<float> entry(static_cast<size_t>(hd)), ikey(static_cast<size_t>(ci));
  IndexKeyFormat ifmt(c, call.layout);
  // Fast mode attends on BF16 where the CPU has it (and hd fits its 32-wide vectors).
  const bool bf16_keys = call.dense_kv || (call.layout == KvLayout::Production && fmt.nope % 64 == 0 && fmt.rope_dim % 32 == 0);
  const Bf16Kernels* bk = call.inputs == Inputs::BF16 && bf16_keys && hd % 32 == 0 && active_isa() == Isa::Avx512
                              ? bf16_kernels()
                              : nullptr;
  // Two passes. The cache updates run in token order: window entries are staged (the ring
  // must keep the chunk's earlier windows), compressors append their entries, and each token
  // records how many compressed entries and indexer keys exist at its position. Then every
  // token's top-k and attention run in parallel over tokens (nested pool calls run inline, so
  // each token's arithmetic is the one-token path's). Paged entries do not move once appended.
  const int64_t eb = fmt.bytes;
  thread_local std::vector<uint8_t> staged_reused;  // reused: fresh pages per call would fault
  std::vector<uint8_t>& staged = staged_reused;
  if (!call.dense_kv) staged.resize(size_t(T * eb));
  std::vector<int64_t> entries_at(static_cast<size_t>(T)), keys_at(static_cast<size_t>(T));
  // Window entries depend on their token alone: encoded over the pool (FP8 rounding is a tenth
  // of a prefill's serial work otherwise).
  if (!call.dense_kv)
    parallel_for(T, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) fmt.encode(&kv[size_t(i * hd)], &staged[size_t(i * eb)]);
    });
  for (int64_t i = 0; i < T; ++i) {
    const int64_t t = pos0 + i;
    float* kv_t = &kv[size_t(i * hd)];
    if (call.dense_kv) {
      // Baseline: keep every token's KV in BF16 and attend to all of them.
      for (int64_t e = 0; e < hd; ++e) call.dense_kv->push_back(float_to_bf16(kv_t[e]));
      continue;
    }
    if (ratio) {
      if (compressor_feed(lc.comp, *b.compressor, &CA[size_t(i * lc.comp.kappa * hd)],
                          &CG[size_t(i * lc.comp.kappa * hd)], t, entry.data())) {
        compressor_finish(c, *b.compressor, call.rope, entry.data(), int(hd), t / ratio, ratio);
        fmt.encode(entry.data(), lc.compressed.append());
      }
    }
    if (ratio == 4) {
      if (compressor_feed(lc.index_comp, *b.idx_compressor, &IA[size_t(i * 2 * ci)], &IG[size_t(i * 2 * ci)], t,
                          ikey.data())) {
        compressor_finish(c, *b.idx_compressor, call.rope, ikey.data(), ci, t / 4, 4);
        if (!plain) hadamard(ikey.data(), ci);
        ifmt.encode(ikey.data(), lc.index_keys.append());
      }
    }
    entries_at[size_t(i)] = lc.compressed.size();
    keys_at[size_t(i)] = lc.index_keys.size();
  }
  std::vector<std::vector<int32_t>> chosen_by_token(call.trace && ratio == 4 && !call.dense_kv ? size_t(T) : 0);
  parallel_for(T, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = pos0 + i;
      if (call.dense_kv) {
        const uint16_t* src = call.dense_kv->data();
        attend(&q[size_t(i * H * hd)], t + 1,
               [&](int64_t u, float* out, uint16_t* out_bf16) {
                 if (out_bf16) std::memcpy(out_bf16, src + u * hd, sizeof(uint16_t) * size_t(hd));
                 else
                   for (int64_t e = 0; e < hd; ++e) out[e] = bf16_to_float(src[u * hd + e]);
               },
               b.attn_sink.data(), int(H), int(hd), bk, &o[size_t(i * H * hd)]);
        continue;
      }
      std::vector<int32_t> chosen;
      if (ratio == 4) {
        float* qi = &qI[size_t(i * ni * ci)];
        const bool int8 = call.int8_indexer && call.layout == KvLayout::Production;
        indexer_prepare_query(c, call.rope, qi, t, !plain, call.fp4_queries && !plain && !int8);
        const int64_t nk = keys_at[size_t(i)];
        chosen = int8 ? indexer_topk_fp4(c, lc.index_keys, nk, qi, &wI[size_t(i * ni)])
                      : indexer_topk(c, call.layout, lc.index_keys, nk, qi, &wI[size_t(i * ni)]);
        if (call.trace) chosen_by_token[size_t(i)] = chosen;
      } else if (ratio) {
        chosen.resize(size_t(entries_at[size_t(i)]));
        for (size_t j = 0; j < chosen.size(); ++j) chosen[j] = int32_t(j);
      }
      // Keys: the window (positions max(0, t-win+1) .. t: this chunk's from the staged
      // entries, earlier ones from the ring) then the chosen compressed entries.
      const int64_t w0 = std::max<int64_t>(0, t - win + 1), nw = t - w0 + 1;
      const int64_t S = nw + int64_t(chosen.size());
      auto entry_at = [&](int64_t u) -> const uint8_t* {
        const int64_t p = w0 + u;
        return u >= nw ? lc.compressed.at(chosen[size_t(u - nw)])
               : p >= pos0 ? &staged[size_t((p - pos0) * eb)]
                           : &lc.ring[size_t((p % win) * eb)];
      };
      attend(&q[size_t(i * H * hd)], S,
             [&](int64_t u, float* out, uint16_t* out_bf16) {
               // Long contexts stream entries from memory (HCA: all of them; CSA: the chosen,
               // scattered). attend() decodes a chunk of keys, then computes on it: fetching
               // the next chunk's entries now lets that compute hide their misses.
               constexpr int64_t kAhead = 32;
               if (u + kAhead < S) prefetch_bytes(entry_at(u + kAhead), eb);
               const uint8_t* e = entry_at(u);
               if (out_bf16) fmt.decode_bf16(e, out_bf16);
               else fmt.decode(e, out);
             },
             b.attn_sink.data(), int(H), int(hd), bk, &o[size_t(i * H * hd)]);
    }
  });
  if (!call.dense_kv)
    for (int64_t i = std::max<int64_t>(0, T - win); i < T; ++i)
      std::memcpy(&lc.ring[size_t(((pos0 + i) % win) * eb)], &staged[size_t(i * eb)], size_t(eb));
  if (call.trace)
    for (auto& chosen : chosen_by_token) call.trace->topk[b.index].push_back(std::move(chosen));

  // Inverse RoPE at the query position, then the grouped low-rank output projection.
  parallel_for(T, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      call.rope.apply(&o[size_t(i * H * hd)], int(hd), pos0 + i, true, int(H), hd);
  });
  const int g = c.o_groups;
  const int64_t gw = H * hd / g, ol = c.o_lora_rank;
  thread_local std::vector<float> grp, zg;  // reused: fresh pages per call would fault (prefill)
  grp.resize(size_t(g * T * gw)), zg.resize(size_t(g * T * ol));
  std::vector<float> z(size_t(T * g * ol));
  std::vector<Weight> wo_a(static_cast<size_t>(g));
  std::vector<GemmCall> groups(static_cast<size_t>(g));
  for (int gi = 0; gi < g; ++gi) {
    float* x = &grp[size_t(gi * T * gw)];
    for (int64_t i = 0; i < T; ++i) std::memcpy(x + i * gw, &o[size_t(i * H * hd + gi * gw)], sizeof(float) * size_t(gw));
    wo_a[size_t(gi)] = b.wo_a.slice_rows(gi * ol, ol);
    groups[size_t(gi)] = {&wo_a[size_t(gi)], x, T, &zg[size_t(gi * T * ol)]};
  }
  gemm_batch(groups.data(), groups.size(), call.inputs);
  for (int gi = 0; gi < g; ++gi)
    for (int64_t i = 0; i < T; ++i)
      std::memcpy(&z[size_t(i * g * ol + gi * ol)], &zg[size_t((gi * T + i) * ol)], sizeof(float) * size_t(ol));
  gemm(b.wo_b, z.data(), T, out, call.inputs);
}

}  // namespace whalebox::model
