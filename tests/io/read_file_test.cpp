// SPDX-License-Identifier: MIT
// Reader entry points never hang and always say why: FIFOs and
// devices are refused before reading, the size limit is checked before allocating, an empty
// path is named as such, and "cannot open" carries the OS reason.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using gpsa_test::expect_io_error;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("gpsa_read_" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// If a reader ever blocks again, SIGALRM ends the test (a failure) instead of hanging ctest.
struct watchdog {
  watchdog() { ::alarm(20); }
  ~watchdog() { ::alarm(0); }
};

}  // namespace

TEST(ReadFile, FifoIsRefusedWithoutBlocking) {
  temp_dir d;
  const fs::path fifo = d.path / "weights.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  watchdog w;
  // No writer ever opens the FIFO: a blocking open() would wait forever.
  expect_io_error([&] { gpsa::io::read_file(fifo); }, fifo.string(), {"not a regular file (FIFO)"});
  expect_io_error([&] { gpsa::io::read_safetensors(fifo); }, fifo.string(), {"not a regular file"});
  expect_io_error([&] { gpsa::io::read_npy(fifo); }, fifo.string(), {"not a regular file"});
}

TEST(ReadFile, DevicesAreRefused) {
  watchdog w;
  expect_io_error([&] { gpsa::io::read_file("/dev/zero"); }, "/dev/zero",
                  {"not a regular file (character device)"});
  expect_io_error([&] { gpsa::io::read_safetensors("/dev/zero"); }, "/dev/zero",
                  {"not a regular file"});
  expect_io_error([&] { gpsa::io::read_npy("/dev/null"); }, "/dev/null", {"not a regular file"});
}

TEST(ReadFile, SizeLimitIsCheckedBeforeReading) {
  temp_dir d;
  const fs::path f = d.path / "big.safetensors";
  std::ofstream(f, std::ios::binary) << std::string(1000, 'x');
  EXPECT_EQ(gpsa::io::read_file(f, 1000).size(), 1000u);
  expect_io_error([&] { gpsa::io::read_file(f, 999); }, f.string(),
                  {"file is 1000 bytes, over the 999 bytes limit for inputs"});
  gpsa::io::read_limits small;
  small.file_bytes = 10;
  expect_io_error([&] { gpsa::io::read_safetensors(f, small); }, f.string(),
                  {"over the 10 bytes limit"});
  expect_io_error([&] { gpsa::io::read_npy(f, small); }, f.string(), {"over the 10 bytes limit"});
  // A sparse file far over the default limit costs nothing to refuse.
  const fs::path sparse = d.path / "sparse.npy";
  { std::ofstream(sparse, std::ios::binary) << 'x'; }
  fs::resize_file(sparse, gpsa::io::max_input_bytes + 1);
  expect_io_error([&] { gpsa::io::read_npy(sparse); }, sparse.string(),
                  {"bytes, over the 4.0 GiB limit for inputs"});
}

TEST(ReadFile, EmptyPathAndMissingFilesSayWhy) {
  expect_io_error([&] { gpsa::io::read_file(""); }, "(empty path)",
                  {"cannot open: no file name given"});
  expect_io_error([&] { gpsa::io::read_safetensors(""); }, "(empty path)", {"no file name"});
  expect_io_error([&] { gpsa::io::read_npy(""); }, "(empty path)", {"no file name"});
  temp_dir d;
  expect_io_error([&] { gpsa::io::read_file(d.path / "nope"); }, (d.path / "nope").string(),
                  {"cannot open: No such file or directory"});
  const fs::path locked = d.path / "locked";
  { std::ofstream(locked) << "x"; }
  // A path through a regular file: ENOTDIR, again with the reason.
  expect_io_error([&] { gpsa::io::read_file(locked / "x"); }, (locked / "x").string(),
                  {"cannot open: Not a directory"});
}

TEST(ReadFile, PathsWithControlCharactersStayOneLine) {
  temp_dir d;
  const fs::path odd = d.path / "a\nb\x1b[2J.npy";
  expect_io_error([&] { gpsa::io::read_npy(odd); }, (d.path / "a\\x0ab\\x1b[2J.npy").string(),
                  {"cannot open"});
}
