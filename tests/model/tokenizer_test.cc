// Byte-level BPE tokenizer from a tokenizer.json built here in the V3/V4 layout.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "model/tokenizer.h"
#include "test_util.h"
#include "tiny_tokenizer.h"

using namespace whalebox::model;
using whalebox::model::testing::error_of;
using ::testing::HasSubstr;

using namespace whalebox::model::testing;

TEST(Tokenizer, EncodesWithMergesInRankOrder) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  int hello = tok.token_id("hello"), wo = tok.token_id(" wo"), rl = tok.token_id("rl");
  ASSERT_GE(hello, 0);
  // "rl" beats nothing else; "d" stays a byte.
  EXPECT_EQ(tok.encode("hello world"), (std::vector<int32_t>{hello, wo, rl, tok.token_id("d")}));
  // Rank decides: "l l" (rank 1) before "l o" (rank 10), so "llo" -> "ll" + "o".
  EXPECT_EQ(tok.encode("llo"), (std::vector<int32_t>{tok.token_id("ll"), tok.token_id("o")}));
}

TEST(Tokenizer, NumbersSplitInThrees) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  // \p{N}{1,3}: "12345" -> "123" "45"; "45" has no merge.
  EXPECT_EQ(tok.encode("12345"),
            (std::vector<int32_t>{tok.token_id("123"), tok.token_id("4"), tok.token_id("5")}));
  // "1234" -> "123" "4", never "12" "34".
  EXPECT_EQ(tok.encode("1234"), (std::vector<int32_t>{tok.token_id("123"), tok.token_id("4")}));
}

TEST(Tokenizer, AddedTokensMatchBeforeBpe) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  int user = tok.token_id("<｜User｜>"), asst = tok.token_id("<｜Assistant｜>");
  ASSERT_GT(user, 0);
  auto ids = tok.encode("<｜begin▁of▁sentence｜><｜User｜>hello<｜Assistant｜><think>");
  EXPECT_EQ(ids, (std::vector<int32_t>{0, user, tok.token_id("hello"), asst, tok.token_id("<think>")}));
  EXPECT_TRUE(tok.is_special(user));
  EXPECT_FALSE(tok.is_special(tok.token_id("hello")));
  // Decode keeps special tokens as text.
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜><｜User｜>hello<｜Assistant｜><think>");
}

TEST(Tokenizer, CjkRunsAndRoundTripOfArbitraryUtf8) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  auto ids = tok.encode("你好");
  // "你" = e4 bd a0 merges into one token, "好" stays three bytes.
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], tok.token_id("你"));
  std::mt19937 rng(7);
  const char* pieces[] = {"hello", " ", "\n", "你好", "123456", "émoji 😀", "\t\t", "x=1+2;", "<｜User｜>", "  world"};
  for (int round = 0; round < 200; ++round) {
    std::string s;
    for (int k = 0; k < 8; ++k) s += pieces[rng() % 10];
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  }
}

// Regression: a byte that is not valid UTF-8 made PCRE2 refuse the whole piece, which then went
// to BPE unsplit (other tokens, and quadratic time: 36 s for 87 KB of text with one bad byte).
TEST(Tokenizer, InvalidUtf8BytesAreTheirOwnPiecesAndTheRestSplitsAsUsual) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  auto cat = [](std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::string text;
  for (int i = 0; i < 50; ++i) text += "hello world 12345\n";
  for (const char* bad : {"\xff", "\xc3", "\xe4\xbd", "\xed\xa0\x80", "\xc0\xaf", "\x80"}) {
    std::string s = text + bad + text;
    auto ids = tok.encode(s);
    std::vector<int32_t> bytes;
    for (const char* b = bad; *b; ++b) bytes.push_back(tok.token_id(std::string(1, *b)));
    EXPECT_EQ(ids, cat(cat(tok.encode(text), bytes), tok.encode(text))) << "bad bytes " << bad;
    EXPECT_EQ(tok.decode(ids), s);
  }
}

// The merge loop against a direct transcription of the rule (lowest rank first, leftmost among
// equals), on long single-piece words where the two could differ.
TEST(Tokenizer, LongWordsMergeLikeTheRankRule) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  auto naive = [&](const std::string& word) {
    std::vector<std::string> parts;
    for (char c : word) parts.push_back(std::string(1, c));
    for (;;) {
      size_t best = parts.size(), best_rank = kMerges.size();
      for (size_t i = 0; i + 1 < parts.size(); ++i)
        for (size_t r = 0; r < best_rank; ++r)
          if (kMerges[r].first == parts[i] && kMerges[r].second == parts[i + 1]) best = i, best_rank = r;
      if (best == parts.size()) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + long(best) + 1);
    }
    std::vector<int32_t> ids;
    for (auto& p : parts) ids.push_back(tok.token_id(p));
    return ids;
  };
  std::mt19937 rng(3);
  const std::string letters = "helloworld";
  for (int round = 0; round < 50; ++round) {
    std::string w;
    for (size_t n = 1 + rng() % 300; w.size() < n;) w += letters[rng() % letters.size()];
    EXPECT_EQ(tok.encode(w), naive(w)) << w;
  }
}

TEST(Tokenizer, PreTokenizerKeepsSpaceWithTheFollowingWord) {
  auto tok = Tokenizer::parse(make_tokenizer(kMerges).dump());
  // " wo" is a merge only when the space is in the same piece as "wo".
  auto ids = tok.encode("a wo");
  EXPECT_EQ(ids, (std::vector<int32_t>{tok.token_id("a"), tok.token_id(" wo")}));
  ids = tok.encode("a\n wo");
  EXPECT_EQ(tok.decode(ids), "a\n wo");
}

TEST(Tokenizer, AddedTokensListedInTheVocabToo) {
  // HF files may repeat added tokens in model.vocab in raw (not byte-level) form.
  auto j = make_tokenizer(kMerges);
  int user = j["added_tokens"][2]["id"];
  j["model"]["vocab"]["<｜User｜>"] = user;
  auto tok = Tokenizer::parse(j.dump());
  EXPECT_EQ(tok.encode("<｜User｜>hello"), (std::vector<int32_t>{user, tok.token_id("hello")}));
  // A raw entry that is no added token is still an error.
  j["model"]["vocab"]["<｜nope｜>"] = 9999;
  EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("byte-level alphabet"));
}

TEST(Tokenizer, RejectsUnsupportedOrBrokenFiles) {
  auto j = make_tokenizer(kMerges);
  j["model"]["merges"].push_back(mapped("q") + " " + mapped("zz"));
  EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("missing from the vocab"));
  j = make_tokenizer(kMerges);
  j["model"]["type"] = "Unigram";
  EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("not BPE"));
  j = make_tokenizer(kMerges);
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("regex"));
  EXPECT_THAT(error_of([&] { Tokenizer::parse("{"); }), HasSubstr("not valid JSON"));
}

// Ids size the tables: a negative one (a write before the table), a huge one (an 8 GB table) or
// a float is an error naming the entry.
TEST(Tokenizer, RejectsTokenIdsOutsideTheSupportedRange) {
  for (const nlohmann::json& bad : {nlohmann::json(-1), nlohmann::json(int64_t(1) << 40), nlohmann::json(2147483647),
                                   nlohmann::json(5.5), nlohmann::json(uint64_t(18446744073709551615ull))}) {
    auto j = make_tokenizer(kMerges);
    j["added_tokens"][0]["id"] = bad;
    EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("added token")) << bad;
    j = make_tokenizer(kMerges);
    j["model"]["vocab"][mapped("q")] = bad;
    EXPECT_THAT(error_of([&] { Tokenizer::parse(j.dump()); }), HasSubstr("vocab entry")) << bad;
  }
}

TEST(Tokenizer, LoadsAV4SizedVocabulary) {
  // ~128K merges like the real V4 file: random byte strings built by merging existing tokens.
  std::mt19937 rng(1);
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.push_back(std::string(1, char(b)));
  std::vector<std::pair<std::string, std::string>> merges;
  std::set<std::string> seen(toks.begin(), toks.end());
  while (merges.size() < 127000) {
    auto& a = toks[rng() % std::min<size_t>(toks.size(), 2000 + merges.size())];
    auto& b = toks[rng() % 256 + (rng() % 4 == 0 ? 0 : 0)];
    if (a.size() + b.size() > 12 || !seen.insert(a + b).second) continue;
    merges.push_back({a, b});
    toks.push_back(a + b);
  }
  auto text = make_tokenizer(merges).dump();
  auto t0 = std::chrono::steady_clock::now();
  auto tok = Tokenizer::parse(text);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("load_ms", int(ms));
  std::printf("loaded %zu-token vocabulary with %zu merges in %.0f ms\n", tok.vocab_size(), merges.size(), ms);
  EXPECT_GE(tok.vocab_size(), 127000u);
  std::string s;
  for (int i = 0; i < 2000; ++i) s += char(32 + rng() % 95);
  EXPECT_EQ(tok.decode(tok.encode(s)), s);
}
