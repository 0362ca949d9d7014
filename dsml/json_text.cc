#include "dsml/json_text.h"

#include <cmath>

namespace whalebox::dsml {

namespace {

// Bytes that JSON strings must escape: control characters, '"' and '\\'.
struct EscapeTable {
  bool escape[256] = {};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) escape[c] = true;
    escape[static_cast<unsigned char>('"')] = true;
    escape[static_cast<unsigned char>('\\')] = true;
  }
};
constexpr EscapeTable kEscape;

}  // namespace

bool needs_json_escape(std::string_view text) {
  for (char c : text)
    if (kEscape.escape[static_cast<unsigned char>(c)]) return true;
  return false;
}

void json_escape_append(std::string_view text, std::string& out) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;  // start of the pending unescaped run
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!kEscape.escape[c]) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(text.data() + run, text.size() - run);
}

void python_dumps_append(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += '"';
        json_escape_append(it.key(), out);
        out += "\": ";
        python_dumps_append(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        python_dumps_append(v[i], out);
      }
      out += ']';
      return;
    }
    case Json::value_t::string:
      out += '"';
      json_escape_append(v.get_ref<const std::string&>(), out);
      out += '"';
      return;
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (d != d) { out += "NaN"; return; }  // Python's spellings for non-finite floats
      if (std::isinf(d)) { out += d > 0 ? "Infinity" : "-Infinity"; return; }
      out += v.dump();
      return;
    }
    default:  // numbers, booleans, null: nlohmann writes them as Python does
      out += v.dump();
  }
}

std::string python_dumps(const Json& value) {
  std::string out;
  python_dumps_append(value, out);
  return out;
}

}  // namespace whalebox::dsml
