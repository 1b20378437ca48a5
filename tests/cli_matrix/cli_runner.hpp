// SPDX-License-Identifier: MIT
// Runs the real gpsa binary the way a user does (fork + exec, no shell) and reports how it ended:
// exit code or signal, stdout, stderr. Also fixtures made from the golden files (copies, prefixes,
// byte patches, NaN/Inf pokes) and a small .npy reader independent of gpsa's.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

// Whether gpsa runs under AddressSanitizer: it is built with the same CMAKE_CXX_FLAGS as this
// test (CMake passes GPSA_CLI_ASAN=1 when they ask for it; the macros cover flags set elsewhere).
// ASan reserves terabytes of shadow address space at startup, so it cannot run under RLIMIT_AS.
#if !defined(GPSA_CLI_ASAN)
#if defined(__SANITIZE_ADDRESS__)
#define GPSA_CLI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPSA_CLI_ASAN 1
#endif
#endif
#endif
#if !defined(GPSA_CLI_ASAN)
#define GPSA_CLI_ASAN 0
#endif

namespace gpsa_cli_test {

namespace fs = std::filesystem;

inline const fs::path kGpsa = GPSA_CLI_PATH;
inline fs::path golden(const std::string& rel) { return fs::path(GPSA_GOLDEN_DIR) / rel; }

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// A fresh folder under the temp dir, removed with everything in it by the destructor.
struct scratch {
  fs::path path;
  scratch() {
    std::string tmpl = (fs::temp_directory_path() / "gpsa_cli_matrix_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& leaf) const { return path / leaf; }
};

struct run_limits {
  fs::path cwd;                        // empty: the test's own
  std::vector<std::string> extra_env;  // "NAME=value", added to (or overriding) the environment
  rlim_t max_file_bytes = 0;           // RLIMIT_FSIZE: a "disk full" write (EFBIG like ENOSPC)
  rlim_t max_address_space = 0;        // RLIMIT_AS: huge allocations fail instead of swapping
                                       // (under ASan: its max_allocation_size_mb instead)
  int timeout_seconds = 300;           // then SIGKILL: a hang fails the test (killed, not exited)
  fs::path stdout_path{};              // empty: a private file read back into run_result::out;
                                       // otherwise stdout goes there (e.g. /dev/full), out = ""
  uid_t uid = 0;                       // non-zero: run as this user and group (tests run as root)
  gid_t gid = 0;
};

struct run_result {
  bool exited = false;  // false: killed by a signal (or the timeout)
  int code = -1;        // exit status when exited
  int signal = 0;       // the signal otherwise
  std::string out, err;
};

inline std::ostream& operator<<(std::ostream& os, const run_result& r) {
  if (r.exited) return os << "exit " << r.code << ", stderr: [" << r.err << "]";
  return os << "killed by signal " << r.signal << ", stderr: [" << r.err << "]";
}

// A gpsa process started by start_gpsa; finish_gpsa waits for it (or kills it at the timeout).
struct running_gpsa {
  pid_t pid = -1;
  int timeout_seconds = 300;
  bool read_stdout = true;
  std::unique_ptr<scratch> io;  // its stdout and stderr files
};

// Starts `gpsa args...` (fork + exec, no shell); stdout and stderr go to files in a private
// folder, read back by finish_gpsa.
inline running_gpsa start_gpsa(const std::vector<std::string>& args, const run_limits& lim = {}) {
  running_gpsa child;
  child.timeout_seconds = lim.timeout_seconds;
  child.read_stdout = lim.stdout_path.empty();
  child.io = std::make_unique<scratch>();
  scratch& io = *child.io;
  const std::string out_file =
      lim.stdout_path.empty() ? (io / "stdout").string() : lim.stdout_path.string();
  const std::string err_file = (io / "stderr").string();
  const std::string exe = kGpsa.string(), cwd = lim.cwd.string();
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> extra_env = lim.extra_env;
  // ASan cannot start under RLIMIT_AS; its allocator gets the same cap on one allocation instead
  // (returning null, so gpsa sees bad_alloc as it would see ENOMEM under the rlimit).
  const bool use_rlimit_as = lim.max_address_space != 0 && !GPSA_CLI_ASAN;
  if (lim.max_address_space != 0 && GPSA_CLI_ASAN) {
    const char* prev = std::getenv("ASAN_OPTIONS");
    std::string opts = prev != nullptr ? prev : "";
    if (!opts.empty()) opts += ':';
    opts += "allocator_may_return_null=1:max_allocation_size_mb=" +
            std::to_string(std::max<rlim_t>(1, lim.max_address_space >> 20));
    extra_env.push_back("ASAN_OPTIONS=" + opts);
  }
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& x : extra_env) overridden |= x.substr(0, x.find('=')) == name;
    if (!overridden) env_s.push_back(kv);
  }
  env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int o = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, 0644);
    const int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (lim.max_file_bytes != 0) {
      // Default action (kill): gpsa itself must ignore SIGXFSZ to fail with a message.
      ::signal(SIGXFSZ, SIG_DFL);
      const rlimit r{lim.max_file_bytes, lim.max_file_bytes};
      if (::setrlimit(RLIMIT_FSIZE, &r) != 0) ::_exit(126);
    }
    if (use_rlimit_as) {
      const rlimit r{lim.max_address_space, lim.max_address_space};
      if (::setrlimit(RLIMIT_AS, &r) != 0) ::_exit(126);
    }
    const rlimit no_core{0, 0};  // a test that crashes gpsa on purpose writes no core file
    if (::setrlimit(RLIMIT_CORE, &no_core) != 0) ::_exit(126);
    if (lim.uid != 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(lim.gid) != 0 || ::setuid(lim.uid) != 0))
      ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  child.pid = pid;
  return child;
}

// Waits for a started gpsa (SIGKILL at its timeout) and reports how it ended.
inline run_result finish_gpsa(running_gpsa& child) {
  const pid_t pid = child.pid;
  const std::string out_file = (*child.io / "stdout").string(),
                    err_file = (*child.io / "stderr").string();
  int status = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(child.timeout_seconds);
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run_result r;
  r.exited = WIFEXITED(status);
  if (r.exited) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  if (child.read_stdout) r.out = slurp(out_file);
  r.err = slurp(err_file);
  return r;
}

// Runs `gpsa args...` to the end.
inline run_result run_gpsa(const std::vector<std::string>& args, const run_limits& lim = {}) {
  running_gpsa child = start_gpsa(args, lim);
  return finish_gpsa(child);
}

// What a folder holds: relative path -> type and contents (symlinks by target), recursively.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(fs::symlink_status(dir))) return out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path rel = fs::relative(it->path(), dir);
    const fs::file_status st = it->symlink_status();
    if (fs::is_symlink(st))
      out[rel.string()] = "link:" + fs::read_symlink(it->path()).string();
    else if (fs::is_directory(st))
      out[rel.string()] = "dir";
    else if (fs::is_regular_file(st))
      out[rel.string()] = "file:" + slurp(it->path());
    else
      out[rel.string()] = "other";  // FIFO
  }
  return out;
}

inline std::vector<std::string> names(const std::map<std::string, std::string>& snap) {
  std::vector<std::string> out;
  for (const auto& kv : snap) out.push_back(kv.first);
  return out;
}

// ---- fixtures made from golden files ----

inline void copy_golden(const std::string& rel, const fs::path& to) {
  spit(to, slurp(golden(rel)));
}

// The first `keep` bytes of a golden file (keep < 0: all but the last -keep bytes).
inline void truncated_golden(const std::string& rel, const fs::path& to, long keep) {
  const std::string b = slurp(golden(rel));
  const std::size_t n = keep >= 0 ? static_cast<std::size_t>(keep) : b.size() - std::size_t(-keep);
  if (n >= b.size()) throw std::runtime_error("truncation keeps the whole file");
  spit(to, b.substr(0, n));
}

// A golden file with one same-length text replacement in its header (dtype, order, shape, key).
inline void patched_golden(const std::string& rel, const fs::path& to, const std::string& from,
                           const std::string& with) {
  if (from.size() != with.size()) throw std::runtime_error("patch must keep the length");
  std::string b = slurp(golden(rel));
  const std::size_t at = b.find(from);
  if (at == std::string::npos) throw std::runtime_error("'" + from + "' not in " + rel);
  b.replace(at, from.size(), with);
  spit(to, b);
}

// Byte offset of a float32 .npy's data (format 1.0: 10-byte preamble + header).
inline std::size_t npy_data_offset(const std::string& b) {
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0 || b[6] != 1)
    throw std::runtime_error("not a version 1 .npy");
  return 10 + (static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8));
}

inline void poke_f32(std::string& b, std::size_t byte_offset, float v) {
  if (byte_offset + 4 > b.size()) throw std::runtime_error("poke beyond the file");
  std::memcpy(b.data() + byte_offset, &v, 4);
}

// A golden float32 .npy with element `flat` set to v (all elements when flat == npos).
inline void poked_npy(const std::string& rel, const fs::path& to, std::size_t flat, float v) {
  std::string b = slurp(golden(rel));
  const std::size_t off = npy_data_offset(b);
  if (flat == std::string::npos)
    for (std::size_t p = off; p + 4 <= b.size(); p += 4) poke_f32(b, p, v);
  else
    poke_f32(b, off + 4 * flat, v);
  spit(to, b);
}

// A golden safetensors file with element `flat` of tensor `key` (F32) set to v. The header is
// decoded here with nlohmann::json, not with gpsa's reader.
inline void poked_safetensors(const std::string& rel, const fs::path& to, const std::string& key,
                              std::size_t flat, float v) {
  std::string b = slurp(golden(rel));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[std::size_t(i)]);
  const nlohmann::json h = nlohmann::json::parse(b.substr(8, n));
  const auto& t = h.at(key);
  if (t.at("dtype") != "F32") throw std::runtime_error(key + " is not F32");
  const std::size_t begin = t.at("data_offsets").at(0).get<std::size_t>();
  poke_f32(b, 8 + n + begin + 4 * flat, v);
  spit(to, b);
}

// ---- files built from scratch (no gpsa code) ----

// A version 1.0 .npy of float32 zeros with `shape`; `descr` is written as given (e.g. "<f4", or
// one with control characters to test messages). The header is padded to 64 bytes like numpy.
inline std::string npy_zeros(const std::vector<std::size_t>& shape,
                             const std::string& descr = "<f4") {
  std::string dims;
  std::size_t n = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ", ";
    n *= d;
  }
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string b = "\x93NUMPY";
  b += '\x01';
  b += '\x00';
  b += static_cast<char>(header.size() & 0xff);
  b += static_cast<char>(header.size() >> 8);
  b += header;
  b.append(4 * n, '\0');
  return b;
}

// A safetensors file from its header (written with nlohmann::json, padded to 8 bytes) and data.
inline std::string safetensors_bytes(const nlohmann::json& header, const std::string& data) {
  std::string json = header.dump();
  while (json.size() % 8 != 0) json += ' ';
  std::string b;
  for (int i = 0; i < 8; ++i)
    b += static_cast<char>((std::uint64_t{json.size()} >> (8 * i)) & 0xff);
  return b + json + data;
}

// A safetensors file of F32 tensors: key -> (shape, values; empty values: zeros). The header is
// written with nlohmann::json (keys with control characters are escaped as JSON requires).
struct st_tensor {
  std::vector<std::size_t> shape;
  std::vector<float> values;
};
inline std::string safetensors_of(const std::map<std::string, st_tensor>& tensors) {
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (const auto& [key, t] : tensors) {
    std::size_t n = 1;
    for (auto d : t.shape) n *= d;
    std::vector<float> v = t.values;
    v.resize(n, 0.0f);
    const std::size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(v.data()), 4 * n);
    h[key] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  return safetensors_bytes(h, data);
}

// ---- reading results (independent of gpsa's reader) ----

struct npy_f32 {
  std::vector<std::size_t> shape;
  std::vector<float> data;
};

inline npy_f32 read_npy_f32(const fs::path& p) {
  const std::string b = slurp(p);
  const std::size_t off = npy_data_offset(b);
  const std::string header = b.substr(10, off - 10);
  if (header.find("'descr': '<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(p.string() + ": not a C-order float32 .npy");
  npy_f32 r;
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string d;
  while (std::getline(dims, d, ','))
    if (d.find_first_of("0123456789") != std::string::npos) r.shape.push_back(std::stoul(d));
  std::size_t n = 1;
  for (auto s : r.shape) n *= s;
  if (b.size() - off != 4 * n) throw std::runtime_error(p.string() + ": size does not match");
  r.data.resize(n);
  std::memcpy(r.data.data(), b.data() + off, 4 * n);
  return r;
}

}  // namespace gpsa_cli_test
