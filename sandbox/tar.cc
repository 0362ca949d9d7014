// Bulk transfer of workspace directories as ustar streams (what `tar` reads and writes), through
// the same beneath-the-workspace file calls as single files.
#include <cstring>

#include "sandbox/workspace_files.h"

namespace whalebox::sandbox {
namespace {

constexpr size_t kBlock = 512;

struct Header {
  std::string name, link;
  char type = '0';
  uint32_t mode = 0644;
  uint64_t size = 0;
};

// Zero-padded octal in width-1 digits plus NUL (values too big for it are clamped; files that big
// are not transferred through this path).
void octal(char* field, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
  field[width - 1] = '\0';
}

void append_padded(std::string& out, const std::string& data) {
  out += data;
  out.append((kBlock - data.size() % kBlock) % kBlock, '\0');
}

void append_header(std::string& out, const Header& h) {
  // Names that do not fit get a GNU long-name record first.
  if (h.name.size() >= 100) append_header(out, {"././@LongLink", "", 'L', 0, h.name.size() + 1}),
                            append_padded(out, h.name + '\0');
  if (h.link.size() >= 100) append_header(out, {"././@LongLink", "", 'K', 0, h.link.size() + 1}),
                            append_padded(out, h.link + '\0');
  char b[kBlock] = {};
  std::memcpy(b, h.name.data(), std::min<size_t>(h.name.size(), 99));
  octal(b + 100, 8, h.mode);
  octal(b + 108, 8, 0);
  octal(b + 116, 8, 0);
  octal(b + 124, 12, h.size);
  octal(b + 136, 12, 0);
  b[156] = h.type;
  std::memcpy(b + 157, h.link.data(), std::min<size_t>(h.link.size(), 99));
  std::memcpy(b + 257, "ustar\0" "00", 8);
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : b) sum += c;
  octal(b + 148, 7, sum);
  out.append(b, kBlock);
}

uint64_t parse_number(const char* f, size_t width) {
  if (static_cast<unsigned char>(f[0]) & 0x80) {  // base-256 for big values
    uint64_t v = 0;
    for (size_t i = 1; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(f[i]);
    return v;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < width && f[i]; ++i)
    if (f[i] >= '0' && f[i] <= '7') v = v * 8 + static_cast<uint64_t>(f[i] - '0');
  return v;
}

std::string field(const char* f, size_t width) { return std::string(f, strnlen(f, width)); }

bool checksum_ok(const char* b) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(b[i]);
  return sum == parse_number(b + 148, 8);
}

// "path" and "linkpath" from a pax extended header.
void pax(const std::string& data, std::string& path, std::string& link) {
  size_t at = 0;
  while (at < data.size()) {
    size_t sp = data.find(' ', at);
    if (sp == std::string::npos) return;
    size_t len = std::strtoul(data.c_str() + at, nullptr, 10);
    if (len == 0 || at + len > data.size()) return;
    std::string rec = data.substr(sp + 1, at + len - sp - 2);
    auto eq = rec.find('=');
    if (eq != std::string::npos) {
      if (rec.compare(0, eq, "path") == 0) path = rec.substr(eq + 1);
      if (rec.compare(0, eq, "linkpath") == 0) link = rec.substr(eq + 1);
    }
    at += len;
  }
}

Status pack(WorkspaceFiles& ws, const std::string& dir, const std::string& prefix, std::string& out, int depth) {
  if (depth > 256) return Status::fail("directory tree too deep to pack: " + dir);
  std::vector<DirEntry> entries;
  if (auto s = ws.list(dir, entries); !s.ok()) return s;
  for (const auto& e : entries) {
    std::string path = dir.empty() ? e.name : dir + "/" + e.name;
    std::string name = prefix.empty() ? e.name : prefix + "/" + e.name;
    if (e.type == DirEntry::Type::dir) {
      append_header(out, {name + "/", "", '5', e.mode, 0});
      if (auto s = pack(ws, path, name, out, depth + 1); !s.ok()) return s;
    } else if (e.type == DirEntry::Type::file) {
      std::string data;
      if (auto s = ws.get(path, UINT64_MAX, data); !s.ok()) return s;
      append_header(out, {name, "", '0', e.mode, data.size()});
      append_padded(out, data);
    } else if (e.type == DirEntry::Type::symlink) {
      std::string target;
      if (auto s = ws.readlink(path, target); !s.ok()) return s;
      append_header(out, {name, target, '2', 0777, 0});
    }  // sockets, FIFOs: not transferable
  }
  return {};
}

}  // namespace

Status pack_tar(WorkspaceFiles& ws, const std::string& dir, std::string& out) {
  out.clear();
  if (auto s = pack(ws, dir, "", out, 0); !s.ok()) return s;
  out.append(2 * kBlock, '\0');
  return {};
}

Status unpack_tar(WorkspaceFiles& ws, const std::string& dir, const std::string& tar) {
  if (auto s = ws.mkdirs(dir); !s.ok()) return s;
  std::string long_name, long_link;
  size_t at = 0;
  while (at + kBlock <= tar.size()) {
    const char* b = tar.data() + at;
    if (std::all_of(b, b + kBlock, [](char c) { return c == 0; })) return {};
    if (!checksum_ok(b)) return Status::fail("tar: bad header checksum at byte " + std::to_string(at));
    Header h;
    h.type = b[156] ? b[156] : '0';
    h.mode = static_cast<uint32_t>(parse_number(b + 100, 8)) & 07777;
    h.size = parse_number(b + 124, 12);
    h.name = field(b, 100);
    h.link = field(b + 157, 100);
    if (std::memcmp(b + 257, "ustar", 5) == 0 && b[345]) h.name = field(b + 345, 155) + "/" + h.name;
    at += kBlock;
    if (h.size > tar.size() - at) return Status::fail("tar: entry " + h.name + " runs past the end of the stream");
    std::string data = tar.substr(at, h.size);
    at += (h.size + kBlock - 1) / kBlock * kBlock;
    if (h.type == 'L') { long_name = field(data.data(), data.size()); continue; }
    if (h.type == 'K') { long_link = field(data.data(), data.size()); continue; }
    if (h.type == 'x') { pax(data, long_name, long_link); continue; }
    if (h.type == 'g') continue;
    if (!long_name.empty()) h.name = long_name;
    if (!long_link.empty()) h.link = long_link;
    long_name.clear();
    long_link.clear();
    std::string path = dir.empty() ? h.name : dir + "/" + h.name;
    Status s;
    switch (h.type) {
      case '0': case '7': s = ws.put(path, data, h.mode); break;
      case '5': s = ws.mkdirs(path); break;
      case '2': s = ws.symlink(path, h.link); break;
      default: break;  // hard links, devices, FIFOs: skipped
    }
    if (!s.ok()) return s;
  }
  return Status::fail("tar: stream ends without its end-of-archive blocks");
}

}  // namespace whalebox::sandbox
