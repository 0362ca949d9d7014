#pragma once
// Shared helpers of the dsml tests: files, parsing in chunks, comparing parse results.
#include <string>
#include <vector>

#include "dsml/parser.h"
#include "dsml/renderer.h"

namespace dsml_test {

using namespace whalebox::dsml;

std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
std::string official_dir();  // ../shared/testdata/dsml/official

// Feeds `text` cut at the given offsets (ascending); also checks the event stream adds up to
// the final message (deltas concatenate to reasoning/content; argument deltas to the JSON).
ParsedMessage parse_split(std::string_view text, Mode mode, const std::vector<size_t>& cuts);

// Empty when equal, else what differs.
std::string diff(const ParsedMessage& a, const ParsedMessage& b);

// One conversation of the corpus: a request plus the mode it is rendered in.
struct Case {
  std::string name;
  Request request;
  RenderOptions options;
};
std::vector<Case> corpus();  // official vectors (when present) + tests/dsml/data/conversations.json

// For assistant message k: the prompt before it and the completion the model would have written.
struct Turn {
  std::string prompt;
  std::string completion;
};
Turn assistant_turn(const Case& c, size_t k);

}  // namespace dsml_test
