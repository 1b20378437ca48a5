// SPDX-License-Identifier: MIT
// Temporaries are removed on SIGTERM, SIGINT and SIGHUP once install_cleanup_handlers() ran:
// a child process blocks half-way through writing a 64 MB output, is killed,
// and must die of that signal leaving the folder exactly as it was.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "io_test_util.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> names(const fs::path& d) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(d)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct child {
  pid_t pid = -1;
  int out = -1;
};

// Starts the helper with default dispositions for the three signals (a test runner may have
// started us with SIGINT ignored, as shells do for background jobs), except `ignore`.
child start(const fs::path& dir, const char* mode, int ignore = 0) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) std::signal(sig, sig == ignore ? SIG_IGN : SIG_DFL);
    ::execl(GPSA_IO_SIGNAL_CHILD, GPSA_IO_SIGNAL_CHILD, dir.c_str(), mode, nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  c.out = fds[0];
  return c;
}

// Waits (at most 120 s) for the child's "ready" line.
bool ready(const child& c) {
  std::string got;
  char buf[64];
  while (got.find('\n') == std::string::npos) {
    pollfd p{c.out, POLLIN, 0};
    if (::poll(&p, 1, 120000) <= 0) return false;
    const ssize_t n = ::read(c.out, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got == "ready\n";
}

int wait_status(child& c) {
  int status = 0;
  EXPECT_EQ(::waitpid(c.pid, &status, 0), c.pid);
  ::close(c.out);
  return status;
}

class Signals : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpsa_sig_" + std::to_string(::getpid()) + "_" + std::to_string(GetParam()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "a.npy") << "old a";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

}  // namespace

TEST_P(Signals, KilledMidWriteLeavesNoTemporaryAndDiesOfTheSignal) {
  const int sig = GetParam();
  child c = start(dir_, "install");
  ASSERT_TRUE(ready(c)) << "helper did not get ready";
  EXPECT_EQ(names(dir_).size(), 3u);  // a.npy and two temporaries, one of them 32 MB
  ASSERT_EQ(::kill(c.pid, sig), 0);
  const int status = wait_status(c);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), sig);
  EXPECT_EQ(names(dir_), std::vector<std::string>{"a.npy"});
  EXPECT_EQ(slurp(dir_ / "a.npy"), "old a");
}

INSTANTIATE_TEST_SUITE_P(TermIntHup, Signals, ::testing::Values(SIGTERM, SIGINT, SIGHUP),
                         [](const auto& info) {
                           return std::string(info.param == SIGTERM  ? "SIGTERM"
                                              : info.param == SIGINT ? "SIGINT"
                                                                     : "SIGHUP");
                         });

TEST(SignalHandlers, NotInstalledByTheLibraryItself) {
  // Without install_cleanup_handlers() the default action kills the process at once: the
  // library took no handler behind the host's back (the temporaries stay; a host must opt in).
  const fs::path dir = fs::temp_directory_path() / ("gpsa_sig_none_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  child c = start(dir, "noinstall");
  ASSERT_TRUE(ready(c));
  ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
  const int status = wait_status(c);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(names(dir).size(), 2u);  // the two temporaries the host chose not to clean
  fs::remove_all(dir);
}

TEST(SignalHandlers, AnIgnoredSignalStaysIgnored) {
  // Under nohup SIGHUP is ignored; installing the handlers must not change that.
  const fs::path dir = fs::temp_directory_path() / ("gpsa_sig_ign_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  child c = start(dir, "install", SIGHUP);
  ASSERT_TRUE(ready(c));
  ASSERT_EQ(::kill(c.pid, SIGHUP), 0);
  ::usleep(200 * 1000);
  int status = 0;
  EXPECT_EQ(::waitpid(c.pid, &status, WNOHANG), 0) << "SIGHUP ended the helper";
  ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
  status = wait_status(c);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}
