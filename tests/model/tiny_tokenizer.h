#pragma once
// A tokenizer.json in the V3/V4 layout (byte-level BPE, Split pre-tokenizers, added special
// tokens) built in memory for tests: ids 0/1 are BOS/EOS, 2..257 the bytes, then merges, then
// <｜User｜>, <｜Assistant｜>, <think>.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace whalebox::model::testing {

// The GPT-2 byte alphabet, written independently of the tokenizer's own table.
inline std::string byte_char(int b) {
  static std::vector<uint32_t> cps = [] {
    std::vector<uint32_t> v(256);
    int n = 0;
    for (int i = 0; i < 256; ++i) {
      bool keep = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
      v[i] = keep ? i : 256 + n++;
    }
    return v;
  }();
  uint32_t cp = cps[b];
  std::string s;
  if (cp < 0x80) s += char(cp);
  else {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}
inline std::string mapped(const std::string& raw) {
  std::string s;
  for (unsigned char c : raw) s += byte_char(c);
  return s;
}

inline const char* kSplitNumbers = R"(\p{N}{1,3})";
inline const char* kSplitCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
inline const char* kSplitWords =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// merges: raw byte pairs in rank order.
inline nlohmann::json make_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges) {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 2;  // 0 and 1 are BOS/EOS (added tokens)
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = id++;
  nlohmann::json m = nlohmann::json::array();
  for (auto& [a, b] : merges) {
    m.push_back(mapped(a) + " " + mapped(b));
    if (!vocab.contains(mapped(a + b))) vocab[mapped(a + b)] = id++;
  }
  auto split = [](const char* re) {
    return nlohmann::json{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  nlohmann::json j;
  j["version"] = "1.0";
  j["normalizer"] = nullptr;
  j["added_tokens"] = {
      {{"id", 0}, {"content", "<｜begin▁of▁sentence｜>"}, {"special", true}},
      {{"id", 1}, {"content", "<｜end▁of▁sentence｜>"}, {"special", true}},
      {{"id", id}, {"content", "<｜User｜>"}, {"special", true}},
      {{"id", id + 1}, {"content", "<｜Assistant｜>"}, {"special", true}},
      {{"id", id + 2}, {"content", "<think>"}, {"special", true}},
  };
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {split(kSplitNumbers), split(kSplitCjk), split(kSplitWords),
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false},
                {"vocab", vocab}, {"merges", m}};
  return j;
}

inline const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {" w", "o"}, {"r", "l"},
    {"1", "2"}, {"12", "3"}, {"\xe4", "\xbd"}, {"\xe4\xbd", "\xa0"}, {"l", "o"}};


}  // namespace whalebox::model::testing
