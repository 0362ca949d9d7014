#pragma once
// `openai` backend: POST /chat/completions with tools, streamed as SSE; reads
// reasoning_content, content and tool_calls deltas (DeepSeek API, vLLM, SGLang).
#include <memory>

#include "agent/backend.h"
#include "agent/config.h"

namespace whalebox::agent {

std::unique_ptr<Backend> make_openai_backend(const BackendConfig& cfg);

}  // namespace whalebox::agent
