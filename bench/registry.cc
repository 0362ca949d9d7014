#include "bench/bench.h"

namespace whalebox::bench {

const std::vector<Benchmark>& registry() {
  static const std::vector<Benchmark> all = {
  };
  return all;
}

}  // namespace whalebox::bench
