// SPDX-License-Identifier: MIT
// io::output_set: all-or-nothing outputs: every target replaced or none, old
// files byte for byte and inode for inode unchanged on failure, no temporary left, modes kept,
// outputs that are inputs refused.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../src/runtime/io_detail.hpp"
#include "io_test_util.hpp"

namespace fs = std::filesystem;
using gpsa::io::output_file;
using gpsa::io::output_set;
using gpsa_test::expect_io_error;
using gpsa_test::expect_io_message;

namespace {

// A fresh folder per test, removed at the end.
class OutputSet : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpsa_out_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path p(const std::string& leaf) const { return dir_ / leaf; }
  fs::path dir_;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

ino_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

mode_t mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Every name in `d`, sorted: the folder holds exactly these, no temporary or backup.
std::vector<std::string> names(const fs::path& d) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(d)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_F(OutputSet, CommitWritesEveryOutput) {
  put(p("y.npy"), "old y");
  {
    output_set s;
    output_file& y = s.add(p("y.npy"), "-o");
    output_file& a = s.add(p("a.npy"), "--attention");
    y.write("new y");
    a.write(std::string_view("new "));
    a.write("attn", 4);
    EXPECT_EQ(a.size(), 8u);
    EXPECT_EQ(slurp(p("y.npy")), "old y");  // nothing replaced before commit
    EXPECT_EQ(names(dir_).size(), 3u);      // y.npy and two temporaries
    s.commit();
    EXPECT_TRUE(s.committed());
  }
  EXPECT_EQ(slurp(p("y.npy")), "new y");
  EXPECT_EQ(slurp(p("a.npy")), "new attn");
  EXPECT_EQ(names(dir_), (std::vector<std::string>{"a.npy", "y.npy"}));
}

TEST_F(OutputSet, WithoutCommitNothingChanges) {
  put(p("y.npy"), "old y");
  const ino_t before = inode(p("y.npy"));
  {
    output_set s;
    s.add(p("y.npy")).write("new");
    s.add(p("new.npy")).write("new");
  }
  EXPECT_EQ(slurp(p("y.npy")), "old y");
  EXPECT_EQ(inode(p("y.npy")), before);
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
}

TEST_F(OutputSet, MissingSecondFolderFailsBeforeAnythingIsWritten) {
  // The data-loss case: y.npy must survive a bad --attention path.
  put(p("y.npy"), "old");
  output_set s;
  s.add(p("y.npy"), "-o");
  expect_io_error([&] { s.add(p("missing/a.npy"), "--attention"); }, p("missing/a.npy").string(),
                  {"output folder", "does not exist"});
  s.discard();
  EXPECT_EQ(slurp(p("y.npy")), "old");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
}

TEST_F(OutputSet, FailedRenameRestoresEveryReplacedTarget) {
  put(p("y.npy"), "old y");
  fs::permissions(p("y.npy"), fs::perms(0600));
  const ino_t before = inode(p("y.npy"));
  output_set s;
  s.add(p("new.npy")).write("new file");  // did not exist: must be removed again
  s.add(p("y.npy")).write("new y");       // existed: must be put back
  s.add(p("d.npy")).write("new d");
  fs::create_directory(p("d.npy"));  // renaming a file over a folder fails (EISDIR)
  expect_io_error([&] { s.commit(); }, p("d.npy").string(),
                  {"cannot rename into place", "no output was replaced"});
  EXPECT_FALSE(s.committed());
  EXPECT_EQ(slurp(p("y.npy")), "old y");
  EXPECT_EQ(inode(p("y.npy")), before);  // the very same file, not a copy
  EXPECT_EQ(mode(p("y.npy")), 0600u);
  EXPECT_TRUE(fs::is_directory(p("d.npy")));
  EXPECT_EQ(names(dir_), (std::vector<std::string>{"d.npy", "y.npy"}));
  EXPECT_THROW(s.commit(), gpsa::io::io_error);  // nothing left to commit
}

TEST_F(OutputSet, ModeOfReplacedFileIsKeptNewFilesHonourTheUmask) {
  put(p("x.bin"), "old");
  fs::permissions(p("x.bin"), fs::perms(0751));
  put(p("ro.bin"), "old");
  fs::permissions(p("ro.bin"), fs::perms(0444));
  const mode_t old_umask = ::umask(027);
  {
    output_set s;
    s.add(p("x.bin")).write("1");
    s.add(p("ro.bin")).write("2");
    s.add(p("fresh.bin")).write("3");
    s.commit();
  }
  ::umask(077);
  gpsa::io::write_file_atomic(p("private.bin"), "4");
  ::umask(old_umask);
  EXPECT_EQ(mode(p("x.bin")), 0751u);
  EXPECT_EQ(mode(p("ro.bin")), 0444u);
  EXPECT_EQ(mode(p("fresh.bin")), 0640u);
  EXPECT_EQ(mode(p("private.bin")), 0600u);
  EXPECT_EQ(slurp(p("ro.bin")), "2");
}

TEST_F(OutputSet, OutputThatIsAnInputIsRefused) {
  fs::create_directory(p("in"));
  const fs::path x = p("in/x.npy");
  put(x, "input");
  fs::create_symlink(x, p("link.npy"));
  fs::create_hard_link(x, p("hard.npy"));
  for (const fs::path& out : {x, p("in/../in/./x.npy"), p("link.npy"), p("hard.npy")}) {
    SCOPED_TRACE(out.string());
    output_set s;
    s.add_input(x, "--input");
    expect_io_message([&] { s.add(out, "-o"); }, "-o '" + out.string() + "'",
                      {"is the input --input '" + x.string() + "'", "refusing to overwrite"});
  }
  // The other order: the output first, then the input.
  output_set s;
  s.add(p("link.npy"), "-o");
  expect_io_message([&] { s.add_input(x, "--weights"); }, "-o '" + p("link.npy").string() + "'",
                    {"is the input --weights"});
  s.discard();
  EXPECT_EQ(slurp(x), "input");
  // An input that does not exist (yet) is still matched by its path.
  output_set t;
  t.add_input(p("nope.npy"), "--input");
  expect_io_message([&] { t.add(p("nope.npy")); }, "'" + p("nope.npy").string() + "'",
                    {"is the input --input"});
}

TEST_F(OutputSet, TwoOutputsNamingOneFileAreRefused) {
  output_set s;
  s.add(p("y.npy"), "-o");
  expect_io_message([&] { s.add(p("./y.npy"), "--attention"); }, "-o and --attention",
                    {"name the same file"});
  output_set t;
  t.add(p("y.npy"));
  expect_io_message([&] { t.add(p("y.npy")); }, "outputs", {"are the same file"});
}

TEST_F(OutputSet, BadTargetsAreNamed) {
  put(p("file"), "x");
  fs::create_directory(p("folder"));
  ASSERT_EQ(::mkfifo(p("fifo").c_str(), 0600), 0);
  output_set s;
  expect_io_error([&] { s.add(""); }, "(empty path)", {"no output file name given"});
  expect_io_error([&] { s.add("", "-o"); }, "(empty path)", {"no output file name given for -o"});
  expect_io_error([&] { s.add(p("file/y.npy")); }, p("file/y.npy").string(),
                  {"output folder '" + p("file").string() + "' is not a folder"});
  expect_io_error([&] { s.add(p("folder")); }, p("folder").string(),
                  {"is a folder, expected a file name"});
  expect_io_error([&] { s.add(p("fifo")); }, p("fifo").string(),
                  {"exists and is not a regular file"});
  expect_io_error([&] { s.add("/dev/null"); }, "/dev/null", {"exists and is not a regular file"});
  // procfs creates no regular file, even for root: the temporary cannot be made.
  expect_io_error([&] { s.add("/proc/gpsa_output_set_test.npy"); },
                  "/proc/gpsa_output_set_test.npy", {"cannot write: "});
  const std::string nl = p("new\nline.npy").string();
  expect_io_error([&] { s.add(p("missing\n/y.npy")); }, p("missing\\x0a/y.npy").string(),
                  {"does not exist"});
  (void)nl;
  EXPECT_EQ(s.size(), 0u);
}

TEST_F(OutputSet, WriteFailureLeavesNoTemporaryAndRefusesCommit) {
  // A file-size limit fails write() half-way, like a full disk; in a child so the limit stays
  // there.
  put(p("y.npy"), "old");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int code = 10;
    try {
      output_set s;
      output_file& o = s.add(p("y.npy"));
      try {
        o.write(std::string(10000, 'x'));
        code = 11;
      } catch (const gpsa::io::io_error& e) {
        const std::string msg = e.what();
        code = msg.find("write failed: File too large") != std::string::npos ? 0 : 12;
      }
      try {
        s.commit();
        code = 13;
      } catch (const gpsa::io::io_error& e) {
        if (std::string(e.what()).find("not written completely") == std::string::npos) code = 14;
      }
    } catch (...) {
      code = 15;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(slurp(p("y.npy")), "old");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
}

TEST_F(OutputSet, RemovePendingOutputsCleansWhatAHandlerWould) {
  put(p("y.npy"), "old");
  output_set s;
  s.add(p("y.npy")).write("new");
  s.add(p("a.npy")).write("new");
  EXPECT_EQ(names(dir_).size(), 3u);
  gpsa::io::remove_pending_outputs();
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
  EXPECT_EQ(slurp(p("y.npy")), "old");
}

TEST_F(OutputSet, SignalDuringRenamesPutsOldFilesBack) {
  // What the handler does if a signal lands between two renames of a commit: white-box, with
  // the registry the handler walks (staged as commit() stages them).
  namespace d = gpsa::io::detail;
  put(p("y.npy"), "old y");
  put(p(".y.npy.tmp.TEST01"), "new y");
  put(p(".a.npy.tmp.TEST02"), "new a");
  ASSERT_EQ(::link(p("y.npy").c_str(), p(".y.npy.old.TEST03").c_str()), 0);
  std::atomic<int> phase{d::phase_staging};
  const int slots[] = {
      d::stage_path(d::staged_kind::temp, p(".y.npy.tmp.TEST01"), {}, nullptr),
      d::stage_path(d::staged_kind::temp, p(".a.npy.tmp.TEST02"), {}, nullptr),
      d::stage_path(d::staged_kind::backup, p(".y.npy.old.TEST03"), p("y.npy"), &phase),
      d::stage_path(d::staged_kind::created, p("a.npy"), p("a.npy"), &phase),
  };
  for (int s : slots) ASSERT_GE(s, 0);
  phase = d::phase_renaming;
  fs::rename(p(".y.npy.tmp.TEST01"), p("y.npy"));  // the first rename happened ...
  fs::rename(p(".a.npy.tmp.TEST02"), p("a.npy"));  // ... and the second
  gpsa::io::remove_pending_outputs();              // ... then the signal
  EXPECT_EQ(slurp(p("y.npy")), "old y");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
}

TEST_F(OutputSet, CommittedBackupsAreOnlyRemoved) {
  namespace d = gpsa::io::detail;
  put(p("y.npy"), "new y");
  put(p(".y.npy.old.TEST04"), "old y");
  std::atomic<int> phase{d::phase_committed};
  ASSERT_GE(d::stage_path(d::staged_kind::backup, p(".y.npy.old.TEST04"), p("y.npy"), &phase), 0);
  ASSERT_GE(d::stage_path(d::staged_kind::created, p("y.npy"), p("y.npy"), &phase), 0);
  gpsa::io::remove_pending_outputs();
  EXPECT_EQ(slurp(p("y.npy")), "new y");
  EXPECT_EQ(names(dir_), std::vector<std::string>{"y.npy"});
}

TEST_F(OutputSet, TooManyPendingOutputsIsAnError) {
  std::vector<std::unique_ptr<output_set>> sets;
  std::size_t made = 0;
  try {
    for (std::size_t i = 0; i < 3 * gpsa::io::max_pending_outputs; ++i) {
      sets.push_back(std::make_unique<output_set>());
      sets.back()->add(dir_ / std::to_string(i));
      ++made;
    }
    ADD_FAILURE() << "no limit";
  } catch (const gpsa::io::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("outputs staged at once"), std::string::npos);
  }
  EXPECT_GE(made, gpsa::io::max_pending_outputs);
  sets.clear();
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST(OutputSetHandlers, LibraryInstallsNoHandlerByItself) {
  // Creating, writing and committing outputs leaves the host's signal dispositions alone.
  const fs::path d = fs::temp_directory_path() / ("gpsa_out_h_" + std::to_string(::getpid()));
  fs::create_directories(d);
  {
    output_set s;
    s.add(d / "y").write("x");
    s.commit();
  }
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    struct sigaction sa {};
    ASSERT_EQ(::sigaction(sig, nullptr, &sa), 0);
    EXPECT_EQ(sa.sa_handler, SIG_DFL) << sig;
  }
  fs::remove_all(d);
}
