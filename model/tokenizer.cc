#include "model/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <unordered_set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace whalebox::model {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("tokenizer.json: " + what); }

// Ids index tables sized by the largest one, so a hostile file must not name id 2^31 - 1 (an
// 8 GB table) or a negative one (a write before the table). V4's vocabulary is 129,280.
constexpr int64_t kMaxTokenId = int64_t(1) << 24;

int32_t checked_id(const json& v, const std::string& what) {
  if (!v.is_number_integer()) fail(what + " has no integer id");
  if (v.is_number_unsigned() ? v.get<uint64_t>() >= uint64_t(kMaxTokenId) : v.get<int64_t>() >= kMaxTokenId)
    fail(what + " has id " + v.dump() + ", beyond the supported " + std::to_string(kMaxTokenId));
  if (!v.is_number_unsigned() && v.get<int64_t>() < 0) fail(what + " has a negative id");
  return int32_t(v.get<int64_t>());
}

// GPT-2 byte<->unicode table: printable bytes map to themselves, the rest to U+0100 upwards.
struct ByteUnicode {
  uint32_t to_cp[256];
  std::unordered_map<uint32_t, uint8_t> to_byte;
  ByteUnicode() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? uint32_t(b) : uint32_t(256 + n++);
      to_byte[to_cp[b]] = uint8_t(b);
    }
  }
};
const ByteUnicode& byte_unicode() {
  static const ByteUnicode t;
  return t;
}

// Decodes a vocab string written in the byte-level alphabet back to raw bytes.
bool unmap_bytes(const std::string& s, std::string& out) {
  const auto& bu = byte_unicode();
  out.clear();
  for (size_t i = 0; i < s.size();) {
    uint8_t c = uint8_t(s[i]);
    uint32_t cp;
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3f);
    auto it = bu.to_byte.find(cp);
    if (it == bu.to_byte.end()) return false;
    out.push_back(char(it->second));
    i += len;
  }
  return true;
}

// A compiled Split pattern (PCRE2, UTF + Unicode properties).
struct Regex {
  pcre2_code* code = nullptr;
  explicit Regex(const std::string& pattern) {
    int err;
    PCRE2_SIZE off;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                         &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("pre-tokenizer regex does not compile at offset " + std::to_string(off) + ": " +
           reinterpret_cast<char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort
  }
  Regex(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code); }
};

const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct SplitStep {
  std::unique_ptr<Regex> re;
  bool isolated;  // "Isolated": matches become pieces; "Removed": matches are dropped
};

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

}  // namespace

struct Tokenizer::Impl {
  std::unordered_map<std::string, int32_t> vocab;  // raw bytes -> id
  std::vector<std::string> id_bytes;               // id -> raw bytes (or added-token text)
  std::vector<bool> special;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left,right) -> (rank, merged id)
  int32_t byte_id[256];
  std::vector<SplitStep> splits;
  bool add_prefix_space = false;
  // Added tokens by first byte, longest first.
  std::vector<std::pair<std::string, int32_t>> added_by_byte[256];
  std::unordered_map<std::string, int32_t> added;
  mutable std::mutex cache_mu;  // encode() may run on several threads
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  void split_pieces(std::string_view text, std::vector<std::string_view>& out) const;
  void bpe(std::string_view word, std::vector<int32_t>& out) const;
};

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {

bool isolated_behavior(const std::string& b) {
  if (b != "Isolated" && b != "Removed") fail("Split behavior '" + b + "' is not supported (Isolated, Removed)");
  return b == "Isolated";
}

void add_pretokenizer(Tokenizer::Impl& t, const json& p) {
  std::string type = p.value("type", "");
  if (type == "Sequence") {
    for (auto& q : p.at("pretokenizers")) add_pretokenizer(t, q);
  } else if (type == "Split") {
    if (p.value("invert", false)) fail("Split with invert=true is not supported");
    const auto& pat = p.at("pattern");
    std::string re;
    if (pat.contains("Regex")) re = pat["Regex"].get<std::string>();
    else {
      // A literal string: escape it for PCRE.
      for (char ch : pat.at("String").get<std::string>()) {
        if (std::string("\\^$.|?*+()[]{}").find(ch) != std::string::npos) re += '\\';
        re += ch;
      }
    }
    t.splits.push_back({std::make_unique<Regex>(re), isolated_behavior(p.value("behavior", "Isolated"))});
  } else if (type == "ByteLevel") {
    t.add_prefix_space = p.value("add_prefix_space", false);
    if (p.value("use_regex", true)) t.splits.push_back({std::make_unique<Regex>(kGpt2Pattern), true});
  } else if (type == "Digits") {
    t.splits.push_back({std::make_unique<Regex>(p.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+"),
                        true});
  } else {
    fail("pre_tokenizer type '" + type + "' is not supported");
  }
}

}  // namespace

Tokenizer Tokenizer::parse(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  Tokenizer tok;
  Impl& t = *tok.impl_;
  if (!j.contains("model") || !j["model"].is_object()) fail("no model object");
  const auto& m = j["model"];
  if (m.value("type", "BPE") != "BPE") fail("model type '" + m.value("type", "") + "' is not BPE");
  if (m.value("byte_fallback", false)) fail("byte_fallback BPE is not supported (expected byte-level BPE)");
  if (j.contains("normalizer") && !j["normalizer"].is_null()) fail("normalizers are not supported");
  if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab is missing");
  std::unordered_set<std::string> added_contents;
  for (auto& a : j.value("added_tokens", json::array()))
    if (a.is_object() && a.contains("content") && a["content"].is_string()) added_contents.insert(a["content"].get<std::string>());
  std::string raw;
  int32_t max_id = -1;
  for (auto& [s, idv] : m["vocab"].items()) {
    const int32_t id = checked_id(idv, "vocab entry '" + s + "'");
    if (!unmap_bytes(s, raw)) {
      // Added tokens may also appear in the vocab in their raw form; they are matched by text.
      if (added_contents.count(s)) continue;
      fail("vocab entry '" + s + "' is not in the byte-level alphabet");
    }
    t.vocab.emplace(raw, id);
    if (id >= int32_t(t.id_bytes.size())) t.id_bytes.resize(size_t(id) + 1);
    t.id_bytes[size_t(id)] = raw;
    max_id = std::max(max_id, id);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = t.vocab.find(std::string(1, char(b)));
    t.byte_id[b] = it == t.vocab.end() ? -1 : it->second;
  }
  int32_t rank = 0;
  std::string left, right;
  for (auto& mg : m.value("merges", json::array())) {
    std::string a, b;
    if (mg.is_string()) {
      auto s = mg.get<std::string>();
      auto sp = s.find(' ');
      if (sp == std::string::npos) fail("merge '" + s + "' has no space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mg.is_array() && mg.size() == 2) {
      a = mg[0].get<std::string>();
      b = mg[1].get<std::string>();
    } else {
      fail("merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
    }
    if (!unmap_bytes(a, left) || !unmap_bytes(b, right)) fail("merge '" + a + " " + b + "' is not byte-level");
    auto il = t.vocab.find(left), ir = t.vocab.find(right), im = t.vocab.find(left + right);
    if (il == t.vocab.end() || ir == t.vocab.end() || im == t.vocab.end())
      fail("merge '" + a + " " + b + "' uses a token missing from the vocab");
    t.merges.emplace(pair_key(il->second, ir->second), std::make_pair(rank, im->second));
    ++rank;
  }
  for (auto& a : j.value("added_tokens", json::array())) {
    if (!a.is_object() || !a.contains("id")) fail("an added token has no id");
    const int32_t id = checked_id(a["id"], "added token " + a.value("content", std::string("?")));
    std::string content = a.at("content").get<std::string>();
    if (content.empty()) fail("added token " + std::to_string(id) + " is empty");
    if (id >= int32_t(t.id_bytes.size())) t.id_bytes.resize(size_t(id) + 1);
    t.id_bytes[size_t(id)] = content;
    if (int32_t(t.special.size()) <= id) t.special.resize(size_t(id) + 1);
    t.special[size_t(id)] = a.value("special", false);
    t.added[content] = id;
    t.added_by_byte[uint8_t(content[0])].push_back({content, id});
  }
  for (auto& v : t.added_by_byte)
    std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.first.size() > y.first.size(); });
  t.special.resize(t.id_bytes.size());
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) add_pretokenizer(t, j["pre_tokenizer"]);
  return tok;
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return parse(ss.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the byte there starts none (stray
// continuation, overlong form, surrogate, beyond U+10FFFF, cut off).
size_t utf8_length(std::string_view s, size_t i) {
  const uint8_t c = uint8_t(s[i]);
  if (c < 0x80) return 1;
  size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const uint8_t d = uint8_t(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  static constexpr uint32_t kLeast[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kLeast[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

// Applies every Split step in turn to every piece. The regexes only ever see valid UTF-8 (checked
// here once, so each match skips PCRE2's own check of the whole subject): a byte that is not part
// of a valid character becomes a piece by itself, as a byte-level BPE has a token for each byte.
void Tokenizer::Impl::split_pieces(std::string_view text, std::vector<std::string_view>& out) const {
  out.clear();
  for (size_t i = 0, run = 0; i <= text.size();) {
    size_t n = i < text.size() ? utf8_length(text, i) : 0;
    if (n > 0) {
      i += n;
      continue;
    }
    if (i > run) out.push_back(text.substr(run, i - run));
    if (i < text.size()) out.push_back(text.substr(i, 1));
    run = ++i;
  }
  std::vector<std::string_view> next;
  pcre2_match_data* md = nullptr;
  for (const auto& step : splits) {
    if (!md) md = pcre2_match_data_create(4, nullptr);
    next.clear();
    for (auto piece : out) {
      if (piece.size() == 1 && uint8_t(piece[0]) >= 0x80) {  // a stray byte: nothing to split
        next.push_back(piece);
        continue;
      }
      size_t pos = 0, last = 0;
      std::vector<std::pair<size_t, size_t>> matches;
      while (pos <= piece.size()) {
        int rc = pcre2_match(step.re->code, reinterpret_cast<PCRE2_SPTR>(piece.data()), piece.size(), pos,
                             PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof msg);
          pcre2_match_data_free(md);
          throw std::runtime_error(std::string("tokenizer: pre-tokenizer regex failed: ") + reinterpret_cast<char*>(msg));
        }
        auto* ov = pcre2_get_ovector_pointer(md);
        size_t b = ov[0], e = ov[1];
        if (e == b) {  // empty match: step one code point on
          pos = b + 1;
          while (pos < piece.size() && (uint8_t(piece[pos]) & 0xc0) == 0x80) ++pos;
          continue;
        }
        matches.push_back({b, e});
        pos = e;
      }
      for (auto [b, e] : matches) {
        if (b > last) next.push_back(piece.substr(last, b - last));
        if (step.isolated) next.push_back(piece.substr(b, e - b));
        last = e;
      }
      if (last < piece.size()) next.push_back(piece.substr(last));
    }
    out.swap(next);
  }
  if (md) pcre2_match_data_free(md);
}

// Merges the lowest-ranked adjacent pair (the leftmost among equals) until none applies. The
// symbols form a linked list and candidate pairs a min-heap, so a long word costs O(n log n)
// rather than a scan of every pair per merge; entries made stale by a merge are skipped.
void Tokenizer::Impl::bpe(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() > 1) {
    std::lock_guard lock(cache_mu);
    auto it = cache.find(std::string(word));
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const int n = int(word.size());
  std::vector<int32_t> sym(size_t(n), 0);
  std::vector<int> prev(size_t(n), 0), next(size_t(n), 0);
  for (int i = 0; i < n; ++i) {
    int32_t id = byte_id[uint8_t(word[size_t(i)])];
    if (id < 0) throw std::runtime_error("tokenizer: byte " + std::to_string(uint8_t(word[size_t(i)])) + " has no token");
    sym[size_t(i)] = id;
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int left;  // position of the left symbol: among equal ranks the leftmost merges first
    int32_t a, b, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<Candidate> heap;
  auto consider = [&](int left) {
    if (left < 0 || next[size_t(left)] < 0) return;
    int32_t a = sym[size_t(left)], b = sym[size_t(next[size_t(left)])];
    auto it = merges.find(pair_key(a, b));
    if (it == merges.end()) return;
    heap.push_back({it->second.first, left, a, b, it->second.second});
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    Candidate c = heap.back();
    heap.pop_back();
    int right = next[size_t(c.left)];
    if (sym[size_t(c.left)] != c.a || right < 0 || sym[size_t(right)] != c.b) continue;  // stale
    sym[size_t(c.left)] = c.merged;
    sym[size_t(right)] = -1;
    next[size_t(c.left)] = next[size_t(right)];
    if (next[size_t(right)] >= 0) prev[size_t(next[size_t(right)])] = c.left;
    consider(prev[size_t(c.left)]);
    consider(c.left);
  }
  std::vector<int32_t> parts;
  for (int i = n > 0 ? 0 : -1; i >= 0; i = next[size_t(i)]) parts.push_back(sym[size_t(i)]);
  if (word.size() > 1) {
    std::lock_guard lock(cache_mu);
    if (cache.size() < 65536) cache.emplace(std::string(word), parts);
  }
  out.insert(out.end(), parts.begin(), parts.end());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  const Impl& t = *impl_;
  std::vector<int32_t> ids;
  std::vector<std::string_view> pieces;
  std::string prefixed;
  auto encode_plain = [&](std::string_view s) {
    if (s.empty()) return;
    if (t.add_prefix_space && s[0] != ' ') {
      prefixed = " " + std::string(s);
      s = prefixed;
    }
    t.split_pieces(s, pieces);
    for (auto p : pieces) t.bpe(p, ids);
  };
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const auto& cands = t.added_by_byte[uint8_t(text[i])];
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& c : cands)
      if (text.compare(i, c.first.size(), c.first) == 0) {
        hit = &c;
        break;
      }
    if (!hit) {
      ++i;
      continue;
    }
    encode_plain(text.substr(start, i - start));
    ids.push_back(hit->second);
    i += hit->first.size();
    start = i;
  }
  encode_plain(text.substr(start));
  return ids;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || size_t(id) >= impl_->id_bytes.size()) return "";
  return impl_->id_bytes[size_t(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string s;
  for (auto id : ids) s += token_bytes(id);
  return s;
}

int32_t Tokenizer::token_id(std::string_view text) const {
  auto a = impl_->added.find(std::string(text));
  if (a != impl_->added.end()) return a->second;
  auto v = impl_->vocab.find(std::string(text));
  return v == impl_->vocab.end() ? -1 : v->second;
}

size_t Tokenizer::vocab_size() const { return impl_->id_bytes.size(); }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->special.size() && impl_->special[size_t(id)];
}

}  // namespace whalebox::model
