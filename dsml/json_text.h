#pragma once
// JSON text exactly as Python's json.dumps(v, ensure_ascii=False) writes it: separators ", " and
// ": ", key order kept, non-ASCII raw. The V4 prompt embeds tool schemas and argument values in
// this form, so byte-exact rendering depends on it.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace whalebox::dsml {

// Objects keep their key order: tool schemas and arguments render in the order they were given.
using Json = nlohmann::ordered_json;

std::string python_dumps(const Json& value);
void python_dumps_append(const Json& value, std::string& out);

// Appends `text` as the inside of a JSON string literal (no quotes). Bytes >= 0x80 pass through.
void json_escape_append(std::string_view text, std::string& out);
// Whether json_escape_append would change `text` (a control byte, '"' or '\\').
bool needs_json_escape(std::string_view text);

}  // namespace whalebox::dsml
