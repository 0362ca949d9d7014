#pragma once
// `replay` backend: completions read in order from a JSONL file, one per model call. A line is
// either {"text": "<raw V4 output: reasoning</think>content + DSML block>"}, parsed by dsml/
// exactly like live output, or an OpenAI-style message {"reasoning_content", "content",
// "tool_calls": [{"name", "arguments"}]}. For tests, demos and regression of recorded runs.
#include <memory>
#include <string>
#include <vector>

#include "agent/backend.h"

namespace whalebox::agent {

// Throws BackendError naming the line when the file is missing or a line is malformed.
std::vector<json> load_replay_file(const std::string& path);

// `loop`: start over after the last line instead of failing (benchmarks).
std::unique_ptr<Backend> make_replay_backend(std::vector<json> lines, bool loop = false);

}  // namespace whalebox::agent
