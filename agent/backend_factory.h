#pragma once
// The backend named by the configuration (openai, completions, replay).
#include <memory>

#include "agent/backend.h"
#include "agent/config.h"

namespace whalebox::agent {

// Throws std::invalid_argument for an unknown kind or a bad base_url, BackendError for an
// unreadable replay file.
std::unique_ptr<Backend> make_backend(const BackendConfig& cfg);

}  // namespace whalebox::agent
