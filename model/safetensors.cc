#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace whalebox::model {

namespace fs = std::filesystem;
using nlohmann::json;

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot stat " + path);
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw std::runtime_error("cannot mmap " + path + ": " + std::strerror(errno));
      }
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error(file + ": " + what);
}

}  // namespace

void SafeTensors::add_file(const std::string& path, const std::vector<std::string>* only) {
  auto file = std::make_shared<MappedFile>(path);
  const uint8_t* base = file->data();
  size_t size = file->size();
  if (size < 8) fail(path, "truncated: " + std::to_string(size) + " bytes, no 8-byte header length");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | base[i];
  if (hlen > size - 8)
    fail(path, "truncated or corrupt: header length " + std::to_string(hlen) + " exceeds file size " +
                   std::to_string(size));
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(base + 8), reinterpret_cast<const char*>(base + 8 + hlen));
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const uint8_t* data = base + 8 + hlen;
  const size_t data_size = size - 8 - hlen;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    auto where = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      fail(path, where + ": header entry lacks dtype/shape/data_offsets");
    TensorView t;
    t.name = name;
    if (!entry["dtype"].is_string()) fail(path, where + ": dtype is not a string");
    t.dtype = dtype_from_name(entry["dtype"].get<std::string>());
    if (t.dtype == DType::Unknown) fail(path, where + ": unsupported dtype " + entry["dtype"].get<std::string>());
    const auto& shape = entry["shape"];
    const auto& off = entry["data_offsets"];
    if (!shape.is_array()) fail(path, where + ": shape is not an array");
    for (auto& d : shape) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) fail(path, where + ": shape has a bad dimension");
      t.shape.push_back(d.get<int64_t>());
    }
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, where + ": data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e) fail(path, where + ": data_offsets begin > end");
    if (e > data_size)
      fail(path, where + ": truncated: data ends at byte " + std::to_string(e) + " but the file holds " +
                     std::to_string(data_size) + " data bytes");
    // numel * size with overflow check
    unsigned __int128 expect = dtype_size(t.dtype);
    for (auto d : t.shape) expect *= uint64_t(d);
    if (expect != e - b)
      fail(path, where + ": " + dtype_name(t.dtype) + " " + shape_str(t.shape) + " needs " +
                     std::to_string(uint64_t(expect)) + " bytes, data_offsets give " + std::to_string(e - b));
    t.data = data + b;
    t.bytes = e - b;
    if (only && std::find(only->begin(), only->end(), name) == only->end()) continue;
    if (!tensors_.emplace(name, std::move(t)).second) fail(path, where + ": defined twice");
  }
  if (only)
    for (auto& n : *only)
      if (!tensors_.count(n)) fail(path, "tensor '" + n + "' listed in the index is missing from this shard");
  files_.push_back(std::move(file));
}

SafeTensors SafeTensors::open(const std::string& path_in) {
  SafeTensors st;
  fs::path path(path_in);
  if (fs::is_directory(path)) {
    if (fs::exists(path / "model.safetensors.index.json")) path /= "model.safetensors.index.json";
    else if (fs::exists(path / "model.safetensors")) path /= "model.safetensors";
    else {
      std::vector<fs::path> files;
      for (auto& e : fs::directory_iterator(path))
        if (e.path().extension() == ".safetensors") files.push_back(e.path());
      if (files.empty()) throw std::runtime_error(path_in + ": no .safetensors files");
      std::sort(files.begin(), files.end());
      st.source_ = path_in;
      for (auto& f : files) st.add_file(f.string(), nullptr);
      return st;
    }
  }
  st.source_ = path.string();
  if (path.extension() == ".json") {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    json idx;
    try {
      idx = json::parse(in);
    } catch (const json::exception& e) {
      fail(path.string(), std::string("not valid JSON: ") + e.what());
    }
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object()) fail(path.string(), "no weight_map object");
    std::map<std::string, std::vector<std::string>> by_file;
    for (auto& [name, file] : idx["weight_map"].items()) {
      if (!file.is_string()) fail(path.string(), "weight_map entry for '" + name + "' is not a file name");
      by_file[file.get<std::string>()].push_back(name);
    }
    for (auto& [file, names] : by_file) st.add_file((path.parent_path() / file).string(), &names);
    return st;
  }
  st.add_file(path.string(), nullptr);
  return st;
}

const TensorView* SafeTensors::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& SafeTensors::get(const std::string& name) const {
  if (auto* t = find(name)) return *t;
  throw std::runtime_error("tensor '" + name + "' not found in " + source_);
}

const TensorView& SafeTensors::expect(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const {
  const auto& t = get(name);
  if (t.dtype != dtype || t.shape != shape)
    throw std::runtime_error("tensor '" + name + "': expected " + dtype_name(dtype) + " " + shape_str(shape) +
                             ", found " + dtype_name(t.dtype) + " " + shape_str(t.shape) + " in " + source_);
  return t;
}

size_t SafeTensors::mapped_bytes() const {
  size_t n = 0;
  for (auto& f : files_) n += f->size();
  return n;
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors) {
  json header = json::object();
  uint64_t off = 0;
  for (auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h += ' ';  // align data to 8 bytes
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out.write(h.data(), std::streamsize(h.size()));
  for (auto& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
  if (!out) throw std::runtime_error("write failed: " + path);
}

}  // namespace whalebox::model
