// Inputs the libFuzzer targets found, replayed under g++ so CI catches them without clang: every
// file of tests/dsml/fuzz_seeds is decoded the way dsml_stream_fuzz.cc does (first byte: bit 0 chat
// mode, chunk = 1 + (byte >> 1) % 16) and must parse the same chunked as whole.
#include <gtest/gtest.h>

#include <filesystem>

#include "dsml/tokens.h"
#include "test_util.h"

using namespace dsml_test;

namespace {

const std::string kSeeds = std::string(WHALEBOX_SOURCE_DIR) + "/tests/dsml/fuzz_seeds";

// Chunked (as the fuzz target feeds) vs whole; empty when they agree and stay within the input size.
std::string replay(const std::string& input) {
  if (input.empty()) return "";
  unsigned char selector = static_cast<unsigned char>(input[0]);
  Mode mode = selector & 1 ? Mode::chat : Mode::thinking;
  size_t chunk = 1 + (selector >> 1) % 16;
  std::string_view text(input.data() + 1, input.size() - 1);
  std::vector<size_t> cuts;
  for (size_t at = chunk; at < text.size(); at += chunk) cuts.push_back(at);
  ParsedMessage chunked = parse_split(text, mode, cuts);
  ParsedMessage whole = parse_completion(text, mode);
  std::string d = diff(chunked, whole);
  for (const ParsedMessage* m : {&chunked, &whole}) {
    if (m->tool_calls_raw.size() > text.size()) d += "tool_calls_raw longer than the input\n";
    if (m->reasoning_content.size() + m->content.size() > text.size()) d += "text longer than the input\n";
  }
  return d;
}

}  // namespace

TEST(FuzzRegression, EverySeedParsesTheSameChunkedAndWhole) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSeeds)) {
    SCOPED_TRACE(entry.path().filename().string());
    ++files;
    EXPECT_EQ(replay(read_file(entry.path().string())), "");
  }
  EXPECT_GE(files, 8);  // the seeds plus the crash inputs checked in beside them
}

// Found by dsml_stream_fuzz (crash-6de88664...): output cut off inside the "</｜DSML｜...>" that
// ends a value copied the value into tool_calls_raw twice (once at "</｜DSML｜", again on truncation).
TEST(FuzzRegression, ValueCutOffInsideItsClosingTagIsCopiedOnce) {
  std::string text = "<｜DSML｜invoke<｜DSML｜parameter>2</｜DSML｜";
  EXPECT_EQ(replay("\x03" + text), "");
  ParsedMessage p = parse_completion(text, Mode::chat);
  EXPECT_EQ(p.tool_calls_raw, text);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].raw, text);
  EXPECT_FALSE(p.tool_calls[0].complete);
  EXPECT_EQ(p.tool_calls[0].arguments, Json({{"", "2"}}));

  // The same at every cut inside a well-formed closing parameter tag: the block's raw bytes are
  // exactly the bytes sampled, in any chunking.
  std::string block = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
                      "<｜DSML｜parameter name=\"a\" string=\"true\">hello</｜DSML｜parameter>";
  size_t close_at = block.rfind("</");
  for (size_t cut = close_at; cut <= block.size(); ++cut) {
    std::string prefix = block.substr(0, cut);
    SCOPED_TRACE(prefix);
    ParsedMessage whole = parse_completion("x" + prefix, Mode::chat);
    EXPECT_EQ(whole.tool_calls_raw, prefix);
    ASSERT_EQ(whole.tool_calls.size(), 1u);
    ASSERT_EQ(whole.tool_calls[0].params.size(), 1u);
    // A cut inside "</｜DSML｜" leaves no marker: its bytes are value bytes.
    size_t value_end = cut < close_at + kTagClose.size() ? cut : close_at;
    EXPECT_EQ(whole.tool_calls[0].params[0].value, block.substr(close_at - 5, value_end - (close_at - 5)));
    for (unsigned char chunk = 1; chunk <= 16; ++chunk)
      EXPECT_EQ(replay(std::string(1, static_cast<char>((chunk - 1) << 1 | 1)) + "x" + prefix), "") << int(chunk);
  }
}
