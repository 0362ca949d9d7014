#pragma once
// HF tokenizer.json, byte-level BPE (spec §16): pre-tokenizer (Split regexes + ByteLevel),
// added tokens matched before BPE, merges by rank. Encode and decode; special tokens kept.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace whalebox::model {

class Tokenizer {
 public:
  static Tokenizer load(const std::string& path);
  static Tokenizer parse(const std::string& json_text);  // throws on unsupported parts, naming them
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  // Bytes of the tokens concatenated (special tokens as their text).
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string token_bytes(int32_t id) const;  // one token's bytes ("" for an unknown id)
  int32_t token_id(std::string_view token_text) const;  // -1 when absent (added tokens included)
  size_t vocab_size() const;  // highest id + 1
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  Tokenizer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace whalebox::model
