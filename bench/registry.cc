#include "bench/bench.h"

namespace whalebox::bench {

int run_dsml(const std::vector<std::string>& args);
int run_engine(const std::vector<std::string>& args);

const std::vector<Benchmark>& registry() {
  static const std::vector<Benchmark> all = {
      {"dsml", "DSML parse+validate throughput (whole buffer, 4-byte stream) vs nlohmann::json on OpenAI-form calls", run_dsml},
      {"engine", "Embedded V4 engine on a random ~0.4B FP8/FP4 checkpoint: prefill, decode at 4K-1M context vs a dense-attention baseline, KV bytes/token, vs measured bandwidth and BF16 peak", run_engine},
  };
  return all;
}

}  // namespace whalebox::bench
