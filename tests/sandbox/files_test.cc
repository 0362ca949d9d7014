// Files in and out of the workspace: round trips, tar bulk transfer, and every way a workload can
// try to make the runtime read or write outside the workspace (symlinks, `..`, FIFOs).
#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

TEST_F(SandboxTest, PutGetListRoundTrip) {
  auto box = create();
  ASSERT_TRUE(box->put_file("dir/sub/hello.txt", "hello\n", 0640).ok());
  auto r = sh(*box, "cat dir/sub/hello.txt; stat -c %a dir/sub/hello.txt; echo made > dir/out.txt");
  EXPECT_EQ(r.stdout_data, "hello\n640\n");
  std::string data;
  ASSERT_TRUE(box->get_file("dir/out.txt", data).ok());
  EXPECT_EQ(data, "made\n");
  std::vector<DirEntry> entries;
  ASSERT_TRUE(box->list("dir", entries).ok());
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.name < b.name; });
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "out.txt");
  EXPECT_EQ(entries[0].type, DirEntry::Type::file);
  EXPECT_EQ(entries[0].size, 5u);
  EXPECT_EQ(entries[1].name, "sub");
  EXPECT_EQ(entries[1].type, DirEntry::Type::dir);
  // The workload can modify what we put (it is owned by the sandbox's uid).
  EXPECT_EQ(sh(*box, "echo more >> dir/sub/hello.txt && echo ok").stdout_data, "ok\n");
  EXPECT_FALSE(box->get_file("dir/out.txt", data, 2).ok()) << "size cap";
  EXPECT_FALSE(box->get_file("missing", data).ok());
}

TEST_F(SandboxTest, TarRoundTripAndCompatibilityWithTar) {
  auto box = create();
  std::string long_name(150, 'n');
  ASSERT_TRUE(box->put_file("src/a.txt", "A", 0644).ok());
  ASSERT_TRUE(box->put_file("src/deep/" + long_name, "long", 0600).ok());
  ASSERT_TRUE(sh(*box, "ln -s a.txt src/link && mkdir src/empty").status.ok());
  std::string tar;
  ASSERT_TRUE(box->get_tar("src", tar).ok());
  ASSERT_TRUE(box->put_tar("copy", tar).ok());
  auto r = sh(*box, "cd copy && cat a.txt deep/" + long_name + " && readlink link && test -d empty && echo ok");
  EXPECT_EQ(r.stdout_data, "Alonga.txt\nok\n") << r.stderr_data;
  // What GNU tar makes, we unpack; what we make, GNU tar lists.
  ASSERT_TRUE(box->put_file("packed.tar", tar, 0644).ok());
  r = sh(*box, "tar tf packed.tar | sort");
  EXPECT_NE(r.stdout_data.find("deep/" + long_name), std::string::npos) << r.stdout_data << r.stderr_data;
  ASSERT_TRUE(sh(*box, "mkdir -p t/x && echo T > t/x/f && tar cf made.tar -C t .").status.ok());
  std::string made;
  ASSERT_TRUE(box->get_file("made.tar", made).ok());
  ASSERT_TRUE(box->put_tar("from-gnu", made).ok());
  std::string f;
  ASSERT_TRUE(box->get_file("from-gnu/x/f", f).ok());
  EXPECT_EQ(f, "T\n");
  EXPECT_FALSE(box->put_tar("bad", std::string(1024, 'x')).ok()) << "garbage is rejected";
}

TEST_F(SandboxTest, SymlinkAndDotDotEscapesThroughFilesFail) {
  auto box = create();
  ASSERT_TRUE(sh(*box, "ln -s /etc etc-link; ln -s ../../../../../../etc up-link; ln -s /etc/passwd passwd-link;"
                       "mkdir d; ln -s ../.. d/parent; mkfifo fifo").status.ok());
  std::string data;
  for (const char* p : {"etc-link/passwd", "up-link/passwd", "passwd-link", "d/parent/etc/passwd",
                        "../etc/passwd", "/../../etc/passwd", "d/../../etc/passwd"}) {
    Status s = box->get_file(p, data);
    EXPECT_FALSE(s.ok()) << "read through " << p << " escaped";
  }
  for (const char* p : {"etc-link/evil", "up-link/evil", "passwd-link", "d/parent/evil", "../evil",
                        "etc-link/newdir/evil"}) {
    Status s = box->put_file(p, "pwned", 0644);
    EXPECT_FALSE(s.ok()) << "write through " << p << " escaped";
  }
  std::vector<DirEntry> entries;
  EXPECT_FALSE(box->list("etc-link", entries).ok());
  EXPECT_FALSE(box->list("..", entries).ok());
  // A FIFO planted by the workload must not block the runtime.
  EXPECT_FALSE(box->get_file("fifo", data).ok());
  EXPECT_FALSE(box->put_file("fifo", "x", 0644).ok());
  // A tar that tries the same.
  std::string tar;
  ASSERT_TRUE(sh(*box, "mkdir -p t && ln -s /etc t/e && tar cf - -C t e > evil1.tar").status.ok());
  ASSERT_TRUE(box->get_file("evil1.tar", tar).ok());
  ASSERT_TRUE(box->put_tar("unpacked", tar).ok());  // the symlink itself is harmless...
  EXPECT_FALSE(box->put_file("unpacked/e/evil", "x", 0644).ok());  // ...following it is refused
  EXPECT_EQ(slurp("/etc/passwd"), host_.passwd);
  EXPECT_FALSE(std::filesystem::exists("/etc/evil"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(workspace_).parent_path() / "evil"));
  expect_still_works(*box);
}

}  // namespace
}  // namespace whalebox::sandbox::testing
