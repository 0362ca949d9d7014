#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace whalebox::model {

int32_t Sampler::sample(const float* logits, int64_t vocab) {
  if (p_.greedy || p_.temperature <= 0) {
    return int32_t(std::max_element(logits, logits + vocab) - logits);  // first max wins ties
  }
  std::vector<int32_t> ids(size_t(vocab), 0);
  std::iota(ids.begin(), ids.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int64_t n = vocab;
  if (p_.top_k > 0 && p_.top_k < vocab) {
    std::partial_sort(ids.begin(), ids.begin() + p_.top_k, ids.end(), by_logit);
    n = p_.top_k;
  } else {
    std::sort(ids.begin(), ids.end(), by_logit);
  }
  std::vector<double> prob(static_cast<size_t>(n));
  const double mx = logits[ids[0]];
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double l = logits[ids[size_t(i)]];
    prob[size_t(i)] = std::isinf(l) && l < 0 ? 0.0 : std::exp((l - mx) / p_.temperature);
    sum += prob[size_t(i)];
  }
  if (p_.top_p < 1.0f) {  // smallest prefix with mass >= top_p
    double acc = 0;
    int64_t keep = 0;
    while (keep < n) {
      acc += prob[size_t(keep++)] / sum;
      if (acc >= p_.top_p) break;
    }
    n = std::max<int64_t>(1, keep);
    sum = std::accumulate(prob.begin(), prob.begin() + n, 0.0);
  }
  double r = std::uniform_real_distribution<double>(0, sum)(rng_);
  for (int64_t i = 0; i < n; ++i) {
    r -= prob[size_t(i)];
    if (r < 0) return ids[size_t(i)];
  }
  return ids[size_t(n - 1)];
}

GenerateResult generate(const Model& m, KvCache& cache, const std::vector<int32_t>& prompt, const GenerateOptions& o) {
  if (prompt.empty()) throw std::invalid_argument("generate: the prompt has no new tokens");
  GenerateResult res;
  res.prompt_tokens = int64_t(prompt.size());
  std::vector<int32_t> stops = o.stop_tokens;
  if (stops.empty()) stops.push_back(m.config().eos_token_id);
  Sampler sampler(o.sampling);
  ForwardOptions fo;
  fo.stop_between_chunks = o.stop_prefill;
  const int64_t start = cache.length();
  Logits lg = m.forward(cache, prompt, fo);
  if (cache.length() - start < int64_t(prompt.size())) {
    res.prompt_tokens = cache.length() - start;
    res.stop_reason = "stopped";
    return res;
  }
  std::vector<float> logits(lg.last(), lg.last() + lg.vocab);
  res.stop_reason = "max_tokens";
  for (int i = 0; i < o.max_tokens; ++i) {
    if (o.logit_hook) o.logit_hook(logits, res.tokens);
    int32_t tok = sampler.sample(logits.data(), int64_t(logits.size()));
    res.tokens.push_back(tok);
    bool stop = std::find(stops.begin(), stops.end(), tok) != stops.end();
    bool go_on = !o.on_token || o.on_token(tok);
    lg = m.forward(cache, {tok});
    logits.assign(lg.last(), lg.last() + lg.vocab);
    if (stop) {
      res.stop_reason = "stop_token";
      break;
    }
    if (!go_on) {
      res.stop_reason = "callback";
      break;
    }
  }
  return res;
}

}  // namespace whalebox::model
