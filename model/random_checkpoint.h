#pragma once
// Random-weight checkpoints in the released layout (FP8 linears with E8M0 128x128 scales, FP4
// or FP8 experts, BF16/F32 small tensors), for tests and benchmarks: a real file the loader
// maps like any checkpoint. Values are scaled so activations stay O(1) through the layers.
#include <cstdint>
#include <string>

#include "model/config.h"

namespace whalebox::model {

// Writes dir/config.json and dir/model.safetensors (or `shards` files + index). `config_json`
// must be a valid V4 config.json text.
void write_random_checkpoint(const std::string& dir, const std::string& config_json, uint64_t seed, int shards = 1);

}  // namespace whalebox::model
