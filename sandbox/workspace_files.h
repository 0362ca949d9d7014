#pragma once
// Host-side access to a sandbox's workspace. Every path is resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) from the workspace's root fd: `..` above it and symlinks pointing out of
// it fail; only regular files are read or written (a FIFO planted by the workload cannot block us).
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

class WorkspaceFiles {
 public:
  WorkspaceFiles() = default;
  ~WorkspaceFiles();
  WorkspaceFiles(const WorkspaceFiles&) = delete;
  WorkspaceFiles& operator=(const WorkspaceFiles&) = delete;

  // Opens (creating if missing) the workspace; files written here get `uid:gid` when chown is set.
  Status open(const std::filesystem::path& dir, bool chown, uint32_t uid, uint32_t gid);
  Status put(const std::string& path, const std::string& data, uint32_t mode);
  Status get(const std::string& path, uint64_t max_bytes, std::string& out);
  Status list(const std::string& path, std::vector<DirEntry>& out);
  Status mkdirs(const std::string& path);
  Status symlink(const std::string& path, const std::string& target);
  Status readlink(const std::string& path, std::string& target);
  int root_fd() const { return root_; }

 private:
  // fd of an existing path opened with `flags`, or -errno.
  int resolve(const std::string& path, int flags, unsigned mode = 0) const;
  int root_ = -1;
  bool chown_ = false;
  uint32_t uid_ = 0, gid_ = 0;
};

// Normalises a workspace-relative path: strips leading '/', rejects NULs and empty components
// are collapsed. "" means the workspace root.
Status relative_path(const std::string& in, std::string& out);

// tar.cc: ustar streams (GNU long names read and written, pax path records read).
Status pack_tar(WorkspaceFiles& ws, const std::string& dir, std::string& out);
Status unpack_tar(WorkspaceFiles& ws, const std::string& dir, const std::string& tar);

}  // namespace whalebox::sandbox
