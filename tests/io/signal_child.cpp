// SPDX-License-Identifier: MIT
// Helper for signal_test: stages outputs through an output_set, writes half of a large .npy
// through npy_writer, says "ready" and blocks until a signal ends it.
//   io_signal_child DIR install|noinstall
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::filesystem::path dir = argv[1];
  if (std::strcmp(argv[2], "install") == 0) gpsa::io::install_cleanup_handlers();
  try {
    gpsa::io::output_set out;
    gpsa::io::output_file& a = out.add(dir / "a.npy", "-o");
    out.add(dir / "b.npy", "--attention").write("partial");
    const std::vector<std::size_t> shape{16, 1 << 20};  // 64 MB of float32
    gpsa::io::npy_writer w(a, gpsa::io::npy_dtype::f32, shape);
    const std::vector<float> row(std::size_t{1} << 20, 1.5f);
    for (int i = 0; i < 8; ++i) w.append(row);  // half of it
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) ::pause();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "io_signal_child: %s\n", e.what());
    return 1;
  }
}
