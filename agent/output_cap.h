#pragma once
// Tool output shown to the model is bounded: the head and tail are kept and the cut is said.
#include <cstddef>
#include <string>
#include <string_view>

namespace whalebox::agent {

// Returns `text` unchanged when it fits in `cap` bytes; otherwise its first and last parts
// (cut on UTF-8 character boundaries) around "[… N bytes cut …]".
std::string cap_output(std::string_view text, size_t cap);

// Replaces invalid UTF-8 with U+FFFD so results are always valid JSON strings.
std::string valid_utf8(std::string_view text);

}  // namespace whalebox::agent
