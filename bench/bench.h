#pragma once
// Benchmarks, each runnable as `whalebox bench <name> [args]`. A benchmark prints progress on
// stderr and one JSON object on the last line of stdout; its exit code says whether it ran.
#include <functional>
#include <string>
#include <vector>

namespace whalebox::bench {

struct Benchmark {
  std::string name;
  std::string summary;
  std::string usage;  // the options, for `whalebox bench <name> --help`
  std::function<int(const std::vector<std::string>& args)> run;
};

// Every benchmark, in the order `whalebox bench --list` shows them.
const std::vector<Benchmark>& registry();

}  // namespace whalebox::bench
