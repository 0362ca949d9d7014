#pragma once
// Small files of /proc and /sys: read whole, write once.
#include <string>

namespace whalebox::sandbox {

// The file's contents, or "" when it cannot be read (`ok` says which, when given).
std::string read_small_file(const std::string& path, bool* ok = nullptr);
// Writes `data` in one write(2). Returns 0 or the errno value.
int write_small_file(const std::string& path, const std::string& data);
// The number after "<key> " on a line of a "key value" file, 0 when absent.
uint64_t keyed_value(const std::string& text, const std::string& key);

}  // namespace whalebox::sandbox
