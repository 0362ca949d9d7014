#include "dsml/json_text.h"

#include <cmath>

namespace whalebox::dsml {

size_t json_escape_to(std::string_view text, char* out) {
  static const char hex[] = "0123456789abcdef";
  char* o = out;
  for (char c : text) {
    if (!kJsonEscape[c]) {
      *o++ = c;
      continue;
    }
    *o++ = '\\';
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      case '\b': *o++ = 'b'; break;
      case '\f': *o++ = 'f'; break;
      default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[static_cast<unsigned char>(c) >> 4];
        *o++ = hex[c & 15];
    }
  }
  return o - out;
}

void json_escape_append(std::string_view text, std::string& out) {
  constexpr size_t kBlock = 1024;  // escaped through a stack buffer, a block at a time
  char block[kBlock * kJsonEscapeMax];
  for (size_t at = 0; at < text.size(); at += kBlock)
    out.append(block, json_escape_to(text.substr(at, kBlock), block));
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
