#pragma once
// safetensors files, memory-mapped: a single file or a sharded set with
// model.safetensors.index.json. Tensor data is used in place (never copied). Every header field
// is checked, so a corrupt, truncated or mismatched file gives an error naming the tensor.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/tensor.h"

namespace whalebox::model {

class MappedFile;

class SafeTensors {
 public:
  // `path`: a .safetensors file, an index .json, or a directory holding either.
  static SafeTensors open(const std::string& path);

  const TensorView* find(const std::string& name) const;
  // Throws "tensor 'name' not found in <where>".
  const TensorView& get(const std::string& name) const;
  // Throws when the tensor is absent or its dtype/shape differ, naming expected and found.
  const TensorView& expect(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::string& source() const { return source_; }
  size_t mapped_bytes() const;

 private:
  void add_file(const std::string& path, const std::vector<std::string>* only);
  std::string source_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::map<std::string, TensorView> tensors_;
};

// Writes one safetensors file (tests, benchmarks and model generation use it).
struct TensorData {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors);

}  // namespace whalebox::model
