#include "agent/output_cap.h"

namespace whalebox::agent {

namespace {

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid.
size_t utf8_len(std::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if (!continuation(s[i + k])) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  return n;
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_len(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string cap_output(std::string_view text, size_t cap) {
  if (text.size() <= cap) return std::string(text);
  size_t head = cap / 2, tail = cap - head;
  while (head > 0 && continuation(text[head])) --head;
  size_t tail_start = text.size() - tail;
  while (tail_start < text.size() && continuation(text[tail_start])) ++tail_start;
  size_t cut = tail_start - head;
  return std::string(text.substr(0, head)) + "\n[… " + std::to_string(cut) +
         " bytes cut: the output was " + std::to_string(text.size()) + " bytes, only " +
         std::to_string(cap) + " are shown …]\n" + std::string(text.substr(tail_start));
}

}  // namespace whalebox::agent
