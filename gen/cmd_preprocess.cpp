// SPDX-License-Identifier: MIT
// gpsa preprocess: a PNG/JPEG image to the (1, 3, S, S) float32 tensor timm's evaluation
// transform gives ConViT (bicubic resize like PIL, centre crop, ImageNet normalisation).
#include <CLI/CLI.hpp>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "commands.hpp"
#include "gpsa/image.hpp"
#include "gpsa/io.hpp"
#include "gpsa/preprocess.hpp"

namespace gpsa::cli {
namespace {

struct preprocess_options {
  std::string image;
  std::string size = "224";
  std::string output;
};

// --size as a decimal integer in [1, image::max_size]; anything else names the value.
std::size_t parse_size(const std::string& text) {
  const auto refuse = [&]() -> std::size_t {
    throw cli_error("--size '" + image::printable(text) + "': expected an integer from 1 to " +
                    std::to_string(image::max_size) + " (the output is S x S)");
  };
  if (text.empty() || text.size() > 9) return refuse();
  std::size_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return refuse();
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  if (v == 0 || v > image::max_size) return refuse();
  return v;
}

// -o must not name the image (same path, another spelling, a symlink or a hard link to it).
void check_output_is_not_image(const std::string& out, const std::string& in) {
  namespace fs = std::filesystem;
  std::error_code e1, e2, e3;
  const bool same_file = fs::equivalent(out, in, e1);
  const fs::path a = fs::weakly_canonical(out, e2), b = fs::weakly_canonical(in, e3);
  if (same_file || (!e2 && !e3 && a == b) || out == in)
    throw cli_error("-o '" + image::printable(out) + "' is the input --image '" +
                    image::printable(in) + "'; refusing to overwrite an input file");
}

void run_preprocess(const preprocess_options& o) {
  if (o.image.empty()) throw cli_error("--image: the path is empty");
  if (o.output.empty()) throw cli_error("-o: the path is empty");
  const std::size_t size = parse_size(o.size);
  check_output_is_not_image(o.output, o.image);

  // Read, decode and compute everything before the output is written (temp file + rename).
  const image::rgb8_image img = image::read(o.image);
  const io::tensor x = image::preprocess(img, size, o.image);
  try {
    io::write_file_atomic(o.output, io::npy_bytes(x.shape, x.data));
  } catch (const io::io_error& e) {  // it quotes -o as given: escape control characters
    static constexpr char hex[] = "0123456789abcdef";
    std::string line;
    for (const char ch : std::string_view(e.what())) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f)
        line.append("\\x").append(1, hex[c >> 4]).append(1, hex[c & 15]);
      else
        line += ch;
    }
    throw cli_error(line);
  }
  timm_eval_plan plan;
  (void)plan_timm_eval({img.width, img.height}, size, plan);  // succeeded inside preprocess
  std::cout << image::printable(o.output) << ": x " << io::shape_text(x.shape) << " float32 from "
            << image::printable(o.image) << " ("
            << (img.format == image::file_format::png ? "PNG" : "JPEG") << ' ' << img.width << 'x'
            << img.height << ", " << img.source << "): bicubic resize to " << plan.resized.width
            << 'x' << plan.resized.height << ", crop " << size << 'x' << size << " at ("
            << plan.crop.left << ',' << plan.crop.top << "), ImageNet mean/std\n";
}

}  // namespace

void add_preprocess(CLI::App& app) {
  auto o = std::make_shared<preprocess_options>();
  CLI::App* cmd = app.add_subcommand(
      "preprocess",
      "Preprocess a PNG/JPEG image like timm's ConViT evaluation transform; write x.npy "
      "(1,3,S,S) float32");
  cmd->add_option("--image", o->image, "input image, PNG or JPEG")->required();
  cmd->add_option("--size", o->size, "output side S (the image is resized to int(S/0.875))")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "output x.npy")->required();
  cmd->callback([o] { run_preprocess(*o); });
}

}  // namespace gpsa::cli
