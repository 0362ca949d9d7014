#pragma once
// `completions` backend: renders the conversation to the exact V4 prompt (dsml/), POSTs it to a
// raw /completions endpoint, and parses the streamed text with the DSML stream parser. For
// servers that host V4 without a tool parser.
#include <memory>

#include "agent/backend.h"
#include "agent/config.h"

namespace whalebox::agent {

std::unique_ptr<Backend> make_completions_backend(const BackendConfig& cfg);

// The V4 prompt for a conversation (OpenAI messages + tools), as the completions backend sends it.
// Assistant messages carrying "x_dsml_raw" re-render their tool-call block byte for byte.
std::string render_prompt(const json& messages, const json& tools, bool thinking);

// Turns DSML-parsed model output into a Completion (calls keep their parse for validation).
Completion completion_from_parse(const dsml::ParsedMessage& m);

}  // namespace whalebox::agent
