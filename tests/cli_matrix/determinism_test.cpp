// SPDX-License-Identifier: MIT
// Same input -> byte-identical output (issues 6 and 9): every file gpsa table / forward / fold
// writes is produced again from another working directory and with other environments (time
// zone, locale, SOURCE_DATE_EPOCH, and for forward every thread-count variable a BLAS or OpenMP
// runtime reads), and the bytes are compared. And gpsa starts no thread: it runs to the end with
// a shim that makes pthread_create fatal (whose positive control is a program that starts one).
#include <gtest/gtest.h>

#include <spawn.h>

#include "cli_runner.hpp"

namespace {

using namespace gpsa_cli_test;

const std::vector<std::string> kOtherLocale = {"TZ=Asia/Kathmandu", "LC_ALL=C.UTF-8",
                                               "LANG=de_DE.UTF-8", "SOURCE_DATE_EPOCH=1"};

// A second environment that must not change a single byte.
const run_limits kOtherEnv{fs::temp_directory_path(), kOtherLocale, 0, 0};

// Thread-count variables of OpenMP, OpenBLAS (two spellings), GotoBLAS, MKL and BLIS, set to 1,
// to 2 and to 7: none may change a byte (a threaded BLAS made them change the sums' order).
std::vector<run_limits> thread_envs() {
  std::vector<run_limits> out{kOtherEnv};
  for (const char* n : {"1", "2", "7"}) {
    std::vector<std::string> env = kOtherLocale;
    for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                            "MKL_NUM_THREADS", "BLIS_NUM_THREADS"})
      env.push_back(std::string(var) + "=" + n);
    out.push_back({fs::temp_directory_path(), env, 0, 0});
  }
  for (const char* var : {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "GOTO_NUM_THREADS=1"})
    out.push_back({{}, {var}, 0, 0});  // one at a time
  return out;
}

std::vector<std::string> expand(const std::vector<std::string>& args, const scratch& dir,
                                const scratch& inputs) {
  std::vector<std::string> a;
  for (std::string s : args) {
    for (auto at = s.find("@DIR"); at != std::string::npos; at = s.find("@DIR"))
      s.replace(at, 4, dir.path.string());
    for (auto at = s.find("@IN"); at != std::string::npos; at = s.find("@IN"))
      s.replace(at, 3, inputs.path.string());
    a.push_back(s);
  }
  return a;
}

// Runs `args` (with "@DIR/" standing for a fresh folder) once with the test's environment and
// once per entry of `others`; every named output must have the first run's bytes.
void expect_identical_runs(const std::vector<std::string>& args,
                           const std::vector<std::string>& outputs, const scratch& inputs,
                           const std::vector<run_limits>& others = {kOtherEnv}) {
  scratch first;
  const run_result r0 = run_gpsa(expand(args, first, inputs));
  ASSERT_TRUE(r0.exited && r0.code == 0) << r0;
  for (const auto& f : outputs) {
    ASSERT_TRUE(fs::is_regular_file(first / f)) << f;
    EXPECT_GT(slurp(first / f).size(), 0u) << f;
  }
  for (const run_limits& env : others) {
    SCOPED_TRACE(::testing::PrintToString(env.extra_env));
    scratch again;
    const run_result r = run_gpsa(expand(args, again, inputs), env);
    ASSERT_TRUE(r.exited && r.code == 0) << r;
    for (const auto& f : outputs) {
      const std::string a = slurp(first / f), b = slurp(again / f);
      EXPECT_TRUE(a == b) << f << ": the two runs differ (" << a.size() << " vs " << b.size()
                          << " bytes)";
    }
  }
}

TEST(Determinism, Table) {
  const scratch none;
  for (const std::vector<std::string>& opts :
       std::vector<std::vector<std::string>>{{"--grid", "14"},   // baked table, npy
                                             {"--grid", "5x3"},  // runtime fill, npy
                                             {"--grid", "7", "--dtype", "f64"},  // every dtype
                                             {"--grid", "7", "--dtype", "i16"},
                                             {"--grid", "14", "--format", "c"},  // C header
                                             {"--grid", "3x5", "--format", "c", "--dtype", "i8"}}) {
    std::vector<std::string> args{"table", "-o", "@DIR/table.out"};
    args.insert(args.end(), opts.begin(), opts.end());
    SCOPED_TRACE(::testing::PrintToString(opts));
    expect_identical_runs(args, {"table.out"}, none);
  }
}

TEST(Determinism, Forward) {
  for (const std::string c : {"s14_h4_c192_convit_tiny", "s3_h9_c36_bias"}) {
    SCOPED_TRACE(c);
    const scratch in;
    copy_golden(c + "/weights.safetensors", in / "w.safetensors");
    copy_golden(c + "/x.npy", in / "x.npy");
    expect_identical_runs(
        {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy", "-o", "@DIR/y.npy",
         "--attention", "@DIR/attn.npy", "--distances", "@DIR/dist.npy"},
        {"y.npy", "attn.npy", "dist.npy"}, in, thread_envs());
    // The fused path (no attention written) too.
    expect_identical_runs(
        {"forward", "--weights", "@IN/w.safetensors", "--input", "@IN/x.npy", "-o", "@DIR/y.npy"},
        {"y.npy"}, in, thread_envs());
  }
}

// --threads N: the host-owned workers split batch x heads (and whatever the kernels split), and
// every output is byte-identical to the single-threaded run for any N.
TEST(Determinism, ForwardThreads) {
  for (const std::string c : {"s14_h4_c192_convit_tiny", "s3_h9_c36_bias", "s2_h4_c16"}) {
    SCOPED_TRACE(c);
    const scratch in, base;
    copy_golden(c + "/weights.safetensors", in / "w.safetensors");
    copy_golden(c + "/x.npy", in / "x.npy");
    const auto args = [&](const scratch& dir, bool with_attn) {
      std::vector<std::string> a{"forward",
                                 "--weights",
                                 (in / "w.safetensors").string(),
                                 "--input",
                                 (in / "x.npy").string(),
                                 "-o",
                                 (dir / "y.npy").string()};
      if (with_attn)
        a.insert(a.end(), {"--attention", (dir / "attn.npy").string(), "--distances",
                           (dir / "dist.npy").string()});
      return a;
    };
    for (const bool with_attn : {true, false}) {
      const run_result r0 = run_gpsa(args(base, with_attn));
      ASSERT_TRUE(r0.exited && r0.code == 0) << r0;
      for (const std::string n : {"1", "2", "3", "7"}) {
        SCOPED_TRACE("--threads " + n + (with_attn ? " with attn" : " fused"));
        const scratch dir;
        std::vector<std::string> a = args(dir, with_attn);
        a.insert(a.end(), {"--threads", n});
        const run_result r = run_gpsa(a);
        ASSERT_TRUE(r.exited && r.code == 0) << r;
        for (const std::string f : {"y.npy", "attn.npy", "dist.npy"}) {
          if (!with_attn && f != "y.npy") continue;
          EXPECT_TRUE(slurp(base / f) == slurp(dir / f)) << f << " differs from the unthreaded run";
        }
      }
    }
  }
}

// ---- no hidden threads -------------------------------------------------------------------------

const run_limits kNoThreads{{}, {std::string("LD_PRELOAD=") + GPSA_NO_THREADS_SHIM}, 0, 0, 300};

TEST(NoHiddenThreads, ShimCatchesAThread) {
  // The control: under the shim, a program that starts a thread dies with the shim's status.
  char* argv[] = {const_cast<char*>(GPSA_THREAD_PROBE), nullptr};
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string(*e).rfind("LD_PRELOAD=", 0) != 0) env_s.push_back(*e);
  env_s.push_back(kNoThreads.extra_env[0]);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, GPSA_THREAD_PROBE, nullptr, nullptr, argv, envp.data()), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 86) << "the shim did not catch std::thread";
}

TEST(NoHiddenThreads, CliRunsWithoutStartingAThread) {
  for (const std::string c : {"s14_h4_c192_convit_tiny", "s3_h9_c36_bias"}) {
    SCOPED_TRACE(c);
    const scratch in, out;
    copy_golden(c + "/weights.safetensors", in / "w.safetensors");
    copy_golden(c + "/x.npy", in / "x.npy");
    for (const std::vector<std::string>& extra :
         std::vector<std::vector<std::string>>{{},
                                               {"--attention", (out / "attn.npy").string(),
                                                "--distances", (out / "dist.npy").string()}}) {
      std::vector<std::string> args{"forward",
                                    "--weights",
                                    (in / "w.safetensors").string(),
                                    "--input",
                                    (in / "x.npy").string(),
                                    "-o",
                                    (out / "y.npy").string()};
      args.insert(args.end(), extra.begin(), extra.end());
      const run_result r = run_gpsa(args, kNoThreads);
      EXPECT_TRUE(r.exited && r.code == 0) << r;
    }
    const run_result f = run_gpsa({"fold", "--weights", (in / "w.safetensors").string(), "--grid",
                                   "14", "-o", (out / "fold.h").string()},
                                  kNoThreads);
    EXPECT_TRUE(f.exited && f.code == 0) << f;
  }
  // --threads 1 is the calling thread alone.
  {
    const scratch in, out;
    copy_golden("s2_h4_c16/weights.safetensors", in / "w.safetensors");
    copy_golden("s2_h4_c16/x.npy", in / "x.npy");
    const run_result r =
        run_gpsa({"forward", "--weights", (in / "w.safetensors").string(), "--input",
                  (in / "x.npy").string(), "-o", (out / "y.npy").string(), "--threads", "1"},
                 kNoThreads);
    EXPECT_TRUE(r.exited && r.code == 0) << r;
  }
  const scratch tables;
  const run_result t =
      run_gpsa({"table", "--grid", "5x3", "-o", (tables / "t.npy").string()}, kNoThreads);
  EXPECT_TRUE(t.exited && t.code == 0) << t;
}

// The control of the above for the CLI: --threads 2 really starts a (host-owned) thread.
TEST(NoHiddenThreads, ThreadsFlagStartsWorkers) {
  const scratch in, out;
  copy_golden("s2_h4_c16/weights.safetensors", in / "w.safetensors");
  copy_golden("s2_h4_c16/x.npy", in / "x.npy");
  const run_result r =
      run_gpsa({"forward", "--weights", (in / "w.safetensors").string(), "--input",
                (in / "x.npy").string(), "-o", (out / "y.npy").string(), "--threads", "2"},
               kNoThreads);
  EXPECT_TRUE(r.exited && r.code == 86) << "the shim saw no thread: " << r;
}

TEST(Determinism, Fold) {
  const scratch in;
  copy_golden("s14_h4_c192_convit_tiny/weights.safetensors", in / "w.safetensors");
  for (const std::vector<std::string>& opts :
       std::vector<std::vector<std::string>>{{"--grid", "14", "--format", "c"},
                                             {"--grid", "14", "--format", "npy"},
                                             {"--grid", "4x6", "--format", "c"},
                                             {"--grid", "4x6", "--format", "npy"}}) {
    std::vector<std::string> args{"fold", "--weights", "@IN/w.safetensors", "-o", "@DIR/fold.out"};
    args.insert(args.end(), opts.begin(), opts.end());
    SCOPED_TRACE(::testing::PrintToString(opts));
    expect_identical_runs(args, {"fold.out"}, in);
  }
}

}  // namespace
