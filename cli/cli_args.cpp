// SPDX-License-Identifier: MIT
// The shared argument checks of the gpsa subcommands, and the one way they print their report.
#include "cli_args.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <system_error>

#include "commands.hpp"
#include "gpsa/image.hpp"
#include "gpsa/runtime/io.hpp"

namespace gpsa::cli {
namespace {

enum class parsed { ok, malformed, out_of_range };

// One positive decimal count, digits only (no sign, no spaces).
parsed parse_positive(std::string_view s, std::size_t& out) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return parsed::malformed;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range) return parsed::out_of_range;
  if (ec != std::errc() || end != s.data() + s.size() || out == 0) return parsed::malformed;
  return parsed::ok;
}

}  // namespace

gpsa::grid parse_grid_text(const std::string& text, std::string_view option) {
  const std::string shown = std::string(option) + " '" + io::printable(text, 200) + "'";
  const std::size_t x = text.find_first_of("xX");
  std::size_t r = 0, c = 0;
  parsed pr = parsed::ok, pc = parsed::ok;
  if (x == std::string::npos) {
    pr = pc = parse_positive(text, r);
    c = r;
  } else {
    pr = parse_positive(std::string_view(text).substr(0, x), r);
    pc = parse_positive(std::string_view(text).substr(x + 1), c);
  }
  if (pr == parsed::malformed || pc == parsed::malformed)
    throw cli_error(shown + ": expected S or RxC with positive integers (e.g. 14 or 8x32)");
  if (pr == parsed::out_of_range || pc == parsed::out_of_range)
    throw cli_error(shown + ": grid size out of range");
  std::size_t n = 0, nn = 0;
  if (!detail::checked_mul(r, c, n))
    throw cli_error(shown + ": R*C overflows size_t (grid too large)");
  if (!detail::checked_mul(n, n, nn))
    throw cli_error(shown + ": N*N overflows size_t (grid too large)");
  return {r, c};
}

bool given(const CLI::Option* option) { return option != nullptr && option->count() > 0; }

void require_path(std::string_view flag, const std::string& path, bool output) {
  if (path.empty())
    throw cli_error(std::string(flag) + ": the path is empty" +
                    (output ? " (no output file name given)" : ""));
}

std::size_t parse_threads(const std::string& text) {
  std::size_t n = 0;
  if (parse_positive(text, n) != parsed::ok || n > max_threads)
    throw cli_error("--threads '" + io::printable(text, 200) +
                    "': expected a number of worker threads from 1 to " +
                    std::to_string(max_threads));
  return n;
}

std::unique_ptr<thread_pool_executor> start_workers(std::size_t workers, const std::string& text) {
  try {
    return std::make_unique<thread_pool_executor>(workers);
  } catch (const std::system_error& e) {
    throw cli_error("--threads '" + io::printable(text, 200) + "': " + e.what());
  }
}

void print_report(std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      throw cli_error("stdout: write failed: " + std::string(std::strerror(err)) + " (after " +
                      std::to_string(done) + " of " + std::to_string(text.size()) +
                      " bytes of the report; output files, if any, are complete)");
    }
    done += static_cast<std::size_t>(n);
  }
}

void require_image_model(const convit_config& c, const std::string& weights,
                         const std::string& image, std::string_view instead) {
  const std::string subject =
      "--image '" + io::printable(image, 200) + "': " + io::display_path(weights) + " takes ";
  const std::string S = std::to_string(c.image_size);
  if (c.channels != 3)
    throw cli_error(subject + std::to_string(c.channels) +
                    "-channel images (in_chans = " + std::to_string(c.channels) +
                    " in patch_embed.proj.weight), but a PNG/JPEG is preprocessed to 3 (RGB); " +
                    std::string(instead));
  if (c.image_size > image::max_size)
    throw cli_error(subject + S + "x" + S +
                    " images (pos_embed and patch_embed.proj.weight), but gpsa preprocesses "
                    "images to at most " +
                    std::to_string(image::max_size) + "x" + std::to_string(image::max_size) + "; " +
                    std::string(instead));
}

}  // namespace gpsa::cli
