// SPDX-License-Identifier: MIT
// The gpsa CLI killed half-way (docs/reliability.md): SIGTERM, SIGINT or SIGHUP while a command
// is writing or computing removes its temporary files, leaves an old result untouched and ends
// the process with that signal (re-raised), so a shell sees the usual status.
#include <gtest/gtest.h>

#include <signal.h>

#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;

// Names in `dir` that are gpsa temporaries (.NAME.tmp.XXXXXX) or kept old files (.NAME.old.*).
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp.") != std::string::npos || n.find(".old.") != std::string::npos)
      out.push_back(n);
  }
  return out;
}

// Starts gpsa, waits until its temporary in `out` exists (holding at least `min_bytes`), then
// sends `sig` and checks the outcome. Returns false (and fails) when gpsa ended first.
void interrupt_when_staged(const std::vector<std::string>& args, const fs::path& out,
                           std::uintmax_t min_bytes, int sig) {
  running_gpsa child = start_gpsa(args);
  bool staged = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!staged && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    ASSERT_EQ(::waitpid(child.pid, &status, WNOHANG), 0)
        << "gpsa ended before it could be interrupted; make the job bigger";
    for (const auto& e : fs::directory_iterator(out)) {
      std::error_code ec;
      const std::string n = e.path().filename().string();
      if (n.find(".tmp.") != std::string::npos && fs::file_size(e.path(), ec) >= min_bytes && !ec)
        staged = true;
    }
    if (!staged) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(staged) << "no temporary appeared";
  ASSERT_EQ(::kill(child.pid, sig), 0);
  const run_result r = finish_gpsa(child);
  EXPECT_FALSE(r.exited) << "expected death by signal " << sig << ": " << r;
  EXPECT_EQ(r.signal, sig) << r;
  EXPECT_EQ(temporaries(out), std::vector<std::string>{}) << "temporary left after the signal";
}

// `gpsa table` of the largest grid it writes, streaming ~2 GB: SIGTERM while the body is being
// written (the temporary already holds 1 MB).
TEST(Signals, TableRemovesItsTemporaryOnSigterm) {
  const scratch out;
  interrupt_when_staged({"table", "--grid", "97", "--dtype", "f64", "-o", (out / "t.npy").string()},
                        out.path, std::uintmax_t{1} << 20, SIGTERM);
  EXPECT_FALSE(fs::exists(out / "t.npy"));
}

// The same with an old result in place: it stays byte for byte.
TEST(Signals, TableKeepsTheOldFileOnSigint) {
  const scratch out;
  spit(out / "t.npy", "old table\n");
  interrupt_when_staged({"table", "--grid", "97", "--dtype", "f64", "-o", (out / "t.npy").string()},
                        out.path, std::uintmax_t{1} << 20, SIGINT);
  EXPECT_EQ(slurp(out / "t.npy"), "old table\n");
}

// `gpsa forward` stages all three outputs before it computes (seconds at N = 4096 with the
// attention): SIGHUP then leaves neither temporaries nor new files, and the old ones intact.
TEST(Signals, ForwardRemovesEveryTemporaryOnSighup) {
  const scratch in, out;
  copy_golden("s2_h4_c16/weights.safetensors", in / "w.safetensors");
  spit(in / "x.npy", npy_zeros({1, 4096, 16}));
  spit(out / "y.npy", "old y\n");
  interrupt_when_staged({"forward", "--weights", (in / "w.safetensors").string(), "--input",
                         (in / "x.npy").string(), "-o", (out / "y.npy").string(), "--attention",
                         (out / "attn.npy").string(), "--distances", (out / "dist.npy").string()},
                        out.path, 0, SIGHUP);
  EXPECT_EQ(slurp(out / "y.npy"), "old y\n");
  EXPECT_FALSE(fs::exists(out / "attn.npy"));
  EXPECT_FALSE(fs::exists(out / "dist.npy"));
}

// Every other signal whose default action ends gpsa, including the crashes (a crash such as an
// out-of-bounds read ends in SIGSEGV or SIGBUS; an assertion in SIGABRT): the temporary is
// removed and gpsa still dies of that signal. Under AddressSanitizer, SIGSEGV and SIGBUS are the
// sanitizer's: it reports and exits with status 1, and its death callback removes the temporary.
class OtherSignals : public ::testing::TestWithParam<int> {};

TEST_P(OtherSignals, RemoveTheTemporaryAndEndGpsaWithTheSignal) {
  const int sig = GetParam();
  const scratch out;
  running_gpsa child =
      start_gpsa({"table", "--grid", "97", "--dtype", "f64", "-o", (out / "t.npy").string()});
  bool staged = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!staged && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    ASSERT_EQ(::waitpid(child.pid, &status, WNOHANG), 0) << "gpsa ended before the signal";
    for (const auto& e : fs::directory_iterator(out.path)) {
      std::error_code ec;
      if (e.path().filename().string().find(".tmp.") != std::string::npos &&
          fs::file_size(e.path(), ec) >= (std::uintmax_t{1} << 20) && !ec)
        staged = true;
    }
    if (!staged) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(staged) << "no temporary appeared";
  ASSERT_EQ(::kill(child.pid, sig), 0);
  const run_result r = finish_gpsa(child);
  if (GPSA_CLI_ASAN && (sig == SIGSEGV || sig == SIGBUS)) {
    EXPECT_TRUE(r.exited && r.code != 0) << r;
  } else {
    EXPECT_FALSE(r.exited) << "expected death by signal " << sig << ": " << r;
    EXPECT_EQ(r.signal, sig) << r;
  }
  EXPECT_EQ(temporaries(out.path), std::vector<std::string>{}) << "temporary left after " << sig;
  EXPECT_FALSE(fs::exists(out / "t.npy"));
}

INSTANTIATE_TEST_SUITE_P(Signals, OtherSignals,
                         ::testing::Values(SIGXCPU, SIGALRM, SIGUSR1, SIGUSR2, SIGPIPE, SIGQUIT,
                                           SIGSEGV, SIGBUS, SIGABRT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(sigabbrev_np(info.param));
                         });

}  // namespace
