#pragma once
// The backend named by the configuration (openai, completions, replay, embedded).
#include <memory>

#include "agent/backend.h"
#include "agent/config.h"

namespace whalebox::agent {

// Throws std::invalid_argument for an unknown kind or a bad base_url, BackendError for an
// unreadable replay file.
std::unique_ptr<Backend> make_backend(const BackendConfig& cfg);

// Settles an unset kind: embedded when `model` is a checkpoint directory, or when no server was
// configured (base URL and model name left at their defaults) and models/whale-tiny is found
// (then `model` becomes its path); otherwise openai. For kind embedded with the default model
// name, `model` becomes models/whale-tiny when found.
void choose_backend(BackendConfig& cfg);

}  // namespace whalebox::agent
