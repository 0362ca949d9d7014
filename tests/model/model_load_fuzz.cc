// libFuzzer target: the loaders of model files a user may be handed (config.json,
// tokenizer.json, a .safetensors file) answer any input with a value or an exception, never a
// crash, undefined behaviour, a hang or an unbounded allocation. The first byte picks the loader.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <string>

#include "model/config.h"
#include "model/plan.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

using namespace whalebox::model;

namespace {

void config_and_plan(const std::string& text) {
  const Config c = parse_config(text);
  const Plan p = make_plan(c, int64_t(1) << 20);
  (void)plan_json(c, p);
  (void)checkpoint_tensors(c);
}

void tokenizer(const std::string& text) {
  const Tokenizer t = Tokenizer::parse(text);
  const auto ids = t.encode("Hello <｜User｜> wörld 123\n\t  x.txt<think>");
  (void)t.decode(ids);
}

// The bytes as a file (memfd, no disk): SafeTensors maps files by path.
void safetensors(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0) return;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += size_t(n);
  }
  try {
    const SafeTensors st = SafeTensors::open("/proc/self/fd/" + std::to_string(fd));
    uint64_t sum = 0;
    for (const auto& [name, view] : st.tensors())
      sum += uint64_t(view.numel()) + (view.bytes ? view.data[0] + view.data[view.bytes - 1] : 0);
    (void)sum;
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 3) {
      case 0: config_and_plan(text); break;
      case 1: tokenizer(text); break;
      default: safetensors(data + 1, size - 1); break;
    }
  } catch (const std::exception&) {
    // a clear error is the expected answer to a bad file
  }
  return 0;
}
