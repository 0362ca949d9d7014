#include "model/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/plan.h"
#include "model/quant.h"
#include "model/safetensors.h"

namespace whalebox::model {

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return float(next() >> 40) / float(1 << 24); }  // [0, 1)
  float normal() {  // sum of 4 uniforms: cheap, roughly normal, unit variance
    return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f;
  }
};

template <class T>
void put(std::vector<uint8_t>& b, size_t i, T v) {
  std::memcpy(&b[i * sizeof(T)], &v, sizeof(T));
}

// The companion .weight of a scale tensor and its logical column count.
int64_t in_features(const TensorSpec& w) { return w.dtype == DType::I8 ? w.shape[1] * 2 : w.shape[1]; }

TensorData fill(const TensorSpec& t, const TensorSpec* weight_of_scale, const Config& c, Rng& rng) {
  TensorData d{t.name, t.dtype, t.shape, std::vector<uint8_t>(size_t(t.numel_bytes()))};
  const int64_t n = t.numel_bytes() / int64_t(dtype_size(t.dtype));
  auto ends = [&](const char* s) {
    size_t l = std::strlen(s);
    return t.name.size() >= l && t.name.compare(t.name.size() - l, l, s) == 0;
  };
  if (t.is_scale) {
    // Weight std ~ 1/sqrt(in): FP8 codes here have |q| ~ 1, FP4 codes ~ 2.5.
    double target = 1.0 / std::sqrt(double(in_features(*weight_of_scale)));
    double q = weight_of_scale->dtype == DType::I8 ? 2.5 : 1.0;
    int e = int(std::lround(std::log2(target / q))) + 127;
    for (int64_t i = 0; i < n; ++i) d.bytes[size_t(i)] = uint8_t(e);
  } else if (t.dtype == DType::F8_E4M3) {
    for (int64_t i = 0; i < n; ++i) d.bytes[size_t(i)] = float_to_fp8(rng.normal());
  } else if (t.dtype == DType::I8) {
    for (int64_t i = 0; i < n; ++i) d.bytes[size_t(i)] = uint8_t(rng.next() >> 32);
  } else if (t.dtype == DType::I64) {  // tid2eid: k distinct experts per token
    const int64_t k = t.shape[1];
    for (int64_t r = 0; r < t.shape[0]; ++r) {
      int64_t first = int64_t(rng.next() % uint64_t(c.n_routed_experts));
      for (int64_t j = 0; j < k; ++j) put<int64_t>(d.bytes, size_t(r * k + j), (first + j) % c.n_routed_experts);
    }
  } else {
    float scale = 0.0f, offset = 0.0f;
    if (ends("norm.weight")) offset = 1.0f;
    else if (ends("_scale")) offset = 1.0f;
    else if (ends("_fn")) scale = 1.0f / std::sqrt(float(t.shape[1]));
    else if (ends("_base") || ends("attn_sink") || ends(".ape") || ends("gate.bias")) scale = 0.1f;
    else if (t.shape.size() == 2) scale = ends("embed.weight") ? 1.0f : 1.0f / std::sqrt(float(t.shape[1]));
    for (int64_t i = 0; i < n; ++i) {
      float v = offset + scale * rng.normal();
      if (t.dtype == DType::F32) put<float>(d.bytes, size_t(i), v);
      else put<uint16_t>(d.bytes, size_t(i), float_to_bf16(v));
    }
  }
  return d;
}

}  // namespace

void write_random_checkpoint(const std::string& dir, const std::string& config_json, uint64_t seed, int shards) {
  namespace fs = std::filesystem;
  Config c = parse_config(config_json);
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "config.json") << config_json;
  auto specs = checkpoint_tensors(c);
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
  shards = std::max(1, shards);
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  size_t per = (specs.size() + size_t(shards) - 1) / size_t(shards);
  for (int s = 0; s < shards; ++s) {
    std::vector<TensorData> out;
    for (size_t i = size_t(s) * per; i < std::min(specs.size(), size_t(s + 1) * per); ++i) {
      const TensorSpec* w = specs[i].is_scale ? &specs[i - 1] : nullptr;
      out.push_back(fill(specs[i], w, c, rng));
    }
    char name[64];
    if (shards == 1) std::snprintf(name, sizeof name, "model.safetensors");
    else std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    for (auto& t : out) index["weight_map"][t.name] = name;
    write_safetensors((fs::path(dir) / name).string(), out);
  }
  if (shards > 1) std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(1);
}

}  // namespace whalebox::model
