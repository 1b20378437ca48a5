// Crash-safe output: write to a temporary file beside the target, then rename over it.
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "gpsa/io.hpp"

namespace gpsa::io {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const std::string shown = path.string();
  if (path.empty()) throw io_error("output path is empty");
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw io_error(shown + ": output folder '" + dir.string() +
                   (fs::exists(dir, ec) ? "' is not a folder" : "' does not exist"));
  if (fs::is_directory(path, ec)) throw io_error(shown + ": is a folder, expected a file name");
  // The rename replaces whatever is there: as root that could be /dev/null or a FIFO.
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))
    throw io_error(shown + ": exists and is not a regular file (device, FIFO or socket); gpsa " +
                   "replaces only regular files");

  // mkstemp gives a unique name in the target folder, so the final rename is atomic.
  std::string leaf(1, '.');  // built with append: GCC 12 -O3 mis-warns (-Wrestrict) on "." + str
  leaf.append(path.filename().string()).append(".tmp.XXXXXX");
  std::string tmpl = (dir / leaf).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw io_error(shown + ": cannot write: " + std::strerror(errno));
  const auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw io_error(shown + ": " + what + ": " + std::strerror(err));
  };
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) fail("cannot set permissions", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw io_error(shown + ": close failed: " + std::strerror(err));
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw io_error(shown + ": cannot rename into place: " + std::strerror(err));
  }
}

}  // namespace gpsa::io
