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

// Bytes that JSON strings must escape: control characters, '"' and '\\'.
struct JsonEscapeTable {
  bool escape[256] = {};
  constexpr JsonEscapeTable() {
    for (int c = 0; c < 0x20; ++c) escape[c] = true;
    escape[static_cast<unsigned char>('"')] = true;
    escape[static_cast<unsigned char>('\\')] = true;
  }
  constexpr bool operator[](char c) const { return escape[static_cast<unsigned char>(c)]; }
};
inline constexpr JsonEscapeTable kJsonEscape;

// Bytes one input byte can become when escaped ("\u001f").
inline constexpr size_t kJsonEscapeMax = 6;
// Writes `text` as the inside of a JSON string literal (no quotes) to `out`, which has room for
// kJsonEscapeMax bytes per input byte; returns the bytes written. Bytes >= 0x80 pass through.
size_t json_escape_to(std::string_view text, char* out);
// The same, appended to a string.
void json_escape_append(std::string_view text, std::string& out);
// Whether escaping would change `text`.
inline bool needs_json_escape(std::string_view text) {
  for (char c : text)
    if (kJsonEscape[c]) return true;
  return false;
}

}  // namespace whalebox::dsml
