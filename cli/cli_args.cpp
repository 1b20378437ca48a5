// SPDX-License-Identifier: MIT
// The shared argument checks of the gpsa subcommands, and the one way they print their report.
#include "cli_args.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <system_error>
#include <vector>

#include "commands.hpp"
#include "gpsa/image.hpp"
#include "gpsa/runtime/io.hpp"
#include "output_arg.hpp"

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

namespace {
// Every byte of `text` to stdout or stderr, or cli_error "stdout: write failed: ...".
void write_report(std::string_view text, bool to_stderr) {
  const int fd = to_stderr ? STDERR_FILENO : STDOUT_FILENO;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      throw cli_error(std::string(to_stderr ? "stderr" : "stdout") +
                      ": write failed: " + std::string(std::strerror(err)) + " (after " +
                      std::to_string(done) + " of " + std::to_string(text.size()) +
                      " bytes of the report; output files, if any, are complete)");
    }
    done += static_cast<std::size_t>(n);
  }
}
}  // namespace

void print_report(std::string_view text) { write_report(text, false); }

void print_report(std::string_view text, bool stdout_is_output) {
  write_report(text, stdout_is_output);
}

io::output_file& add_output(io::output_set& out, const std::string& path, std::string_view flag) {
  return path == "-" ? out.add_stdout(flag) : out.add(path, flag);
}

void require_image_model(const convit_config& c, const std::string& weights,
                         const std::string& image, std::string_view instead) {
  const std::string subject =
      "--image '" + io::printable(image, 200) + "': " + io::display_path(weights) + " takes ";
  const std::string S = std::to_string(c.image_size);
  if (c.channels != 3 && c.channels != 1)
    throw cli_error(subject + std::to_string(c.channels) +
                    "-channel images (in_chans = " + std::to_string(c.channels) +
                    " in patch_embed.proj.weight), but a PNG/JPEG is preprocessed to 3 (RGB) or "
                    "1 (grey-scale); " +
                    std::string(instead));
  if (c.image_size > image::max_size)
    throw cli_error(subject + S + "x" + S +
                    " images (pos_embed and patch_embed.proj.weight), but gpsa preprocesses "
                    "images to at most " +
                    std::to_string(image::max_size) + "x" + std::to_string(image::max_size) + "; " +
                    std::string(instead));
}

namespace {

// Comma-separated finite decimal numbers ("0.5", "0.485,0.456,0.406"); cli_error naming the flag.
std::vector<double> parse_numbers(const std::string& text, const char* flag) {
  std::vector<double> v;
  std::size_t at = 0;
  while (true) {
    const std::size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? comma : comma - at);
    char* end = nullptr;
    const double x = item.empty() ? static_cast<double>(NAN) : std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(x) ||
        item.find_first_of(" \t") != std::string::npos || v.size() == 3)
      throw cli_error(std::string(flag) + " '" + io::printable(text, 200) +
                      "': expected 1 or 3 comma-separated finite numbers");
    v.push_back(x);
    if (comma == std::string::npos) return v;
    at = comma + 1;
  }
}

}  // namespace

void add_data_config_options(CLI::App& cmd, data_config_options& o) {
  cmd.add_option("--input-size", o.input_size,
                 "timm's input_size C,S,S (C = 3, or 1 for grey-scale models; square)");
  cmd.add_option("--mean", o.mean, "per-channel mean, m or m,m,m (default: ImageNet's)");
  cmd.add_option("--std", o.std, "per-channel std, s or s,s,s (default: ImageNet's)");
  cmd.add_option("--interpolation", o.interpolation, "bicubic (default) or bilinear (PIL's)");
  cmd.add_option("--crop-pct", o.crop_pct,
                 "the shorter side is resized to floor(S / crop_pct) before the centre crop; "
                 "(0, 1], default 0.875");
}

timm_data_config resolve_data_config(const data_config_options& o, timm_data_config c,
                                     std::size_t max_side) {
  if (!o.input_size.empty()) {
    const std::string shown = "--input-size '" + io::printable(o.input_size, 200) + "'";
    std::vector<std::size_t> dims;
    std::size_t at = 0;
    while (dims.size() < 4) {
      const std::size_t comma = o.input_size.find(',', at);
      std::size_t v = 0;
      const std::string item =
          o.input_size.substr(at, comma == std::string::npos ? comma : comma - at);
      if (parse_positive(item, v) != parsed::ok)
        throw cli_error(shown + ": expected C,S,S with positive integers (e.g. 3,224,224)");
      dims.push_back(v);
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (dims.size() != 3)
      throw cli_error(shown + ": expected C,S,S with positive integers (e.g. 3,224,224)");
    if (dims[0] != 1 && dims[0] != 3)
      throw cli_error(shown + ": " + std::to_string(dims[0]) +
                      " channels; gpsa reads RGB (3) and grey-scale (1) images");
    if (dims[1] != dims[2])
      throw cli_error(shown + ": " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]) +
                      " is not square (ConViT's images are S x S)");
    if (dims[1] > max_side)
      throw cli_error(shown + ": S = " + std::to_string(dims[1]) + " is over the limit of " +
                      std::to_string(max_side));
    if (dims[0] != c.channels) {  // the ImageNet statistics only fit three channels
      c.channels = dims[0];
      if (c.channels == 1) c.mean[0] = c.std[0] = NAN;
    }
    c.size = dims[1];
  }
  const auto per_channel = [&](const std::string& text, const char* flag, float* out) {
    const std::vector<double> v = parse_numbers(text, flag);
    if (v.size() != c.channels)
      throw cli_error(std::string(flag) + " '" + io::printable(text, 200) +
                      "': " + std::to_string(v.size()) + " value(s) for " +
                      std::to_string(c.channels) + " channel(s)");
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  };
  if (!o.mean.empty()) per_channel(o.mean, "--mean", c.mean);
  if (!o.std.empty()) {
    per_channel(o.std, "--std", c.std);
    for (std::size_t i = 0; i < c.channels; ++i)
      if (!(c.std[i] > 0.0f))
        throw cli_error("--std '" + io::printable(o.std, 200) + "': every std must be > 0");
  }
  if (c.channels == 1 && (std::isnan(c.mean[0]) || std::isnan(c.std[0])))
    throw cli_error(
        "--mean and --std: a one-channel (grey-scale) configuration needs its own statistics "
        "(ImageNet's are for RGB), e.g. --mean 0.5 --std 0.5");
  if (!o.interpolation.empty()) {
    if (o.interpolation == "bicubic")
      c.interpolation = resample::bicubic;
    else if (o.interpolation == "bilinear")
      c.interpolation = resample::bilinear;
    else
      throw cli_error("--interpolation '" + io::printable(o.interpolation, 200) +
                      "': expected bicubic or bilinear");
  }
  if (!o.crop_pct.empty()) {
    const std::vector<double> v = parse_numbers(o.crop_pct, "--crop-pct");
    if (v.size() != 1 || !(v[0] > 0.0 && v[0] <= 1.0))
      throw cli_error("--crop-pct '" + io::printable(o.crop_pct, 200) +
                      "': expected a number in (0, 1]");
    c.crop_pct = v[0];
  }
  return c;
}

timm_data_config model_data_config(const data_config_options& o, std::size_t channels,
                                   std::size_t image_size, std::size_t max_side) {
  if (channels == 1 && o.input_size.empty() && (o.mean.empty() || o.std.empty()))
    throw cli_error(
        "the model takes 1-channel (grey-scale) images (in_chans = 1); ImageNet's mean and std "
        "are for RGB: give the model's --mean and --std (timm's data configuration), e.g. "
        "--mean 0.5 --std 0.5");
  timm_data_config defaults;
  defaults.size = image_size;
  if (channels != 3) {
    defaults.channels = channels;
    defaults.mean[0] = defaults.std[0] = NAN;  // a grey-scale model needs --mean / --std
  }
  const timm_data_config c = resolve_data_config(o, defaults, max_side);
  if (c.channels != channels || c.size != image_size)
    throw cli_error("--input-size '" + io::printable(o.input_size, 200) + "': the model takes " +
                    std::to_string(channels) + "," + std::to_string(image_size) + "," +
                    std::to_string(image_size));
  return c;
}

std::string describe_transform(const timm_eval_plan& p) {
  const timm_data_config& c = p.config;
  std::ostringstream s;
  if (c.channels == 1) s << "grey-scale, ";
  s << (c.interpolation == resample::bilinear ? "bilinear" : "bicubic") << " resize to "
    << p.resized.width << 'x' << p.resized.height << ", crop " << p.size << 'x' << p.size << " at ("
    << p.crop.left << ',' << p.crop.top << "), ";
  bool imagenet = c.channels == 3;
  for (std::size_t i = 0; imagenet && i < 3; ++i)
    imagenet = c.mean[i] == imagenet_mean[i] && c.std[i] == imagenet_std[i];
  if (imagenet) {
    s << "ImageNet mean/std";
  } else {
    s << "mean";
    for (std::size_t i = 0; i < c.channels; ++i) s << (i == 0 ? " " : ",") << c.mean[i];
    s << " std";
    for (std::size_t i = 0; i < c.channels; ++i) s << (i == 0 ? " " : ",") << c.std[i];
  }
  return s.str();
}

}  // namespace gpsa::cli
