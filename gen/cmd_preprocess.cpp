// SPDX-License-Identifier: MIT
// gpsa preprocess: a PNG/JPEG image to the (1, C, S, S) float32 tensor timm's evaluation
// transform gives a model (its data configuration: bicubic or bilinear resize like PIL, centre
// crop, normalisation; grey-scale for one-channel models; ConViT's ImageNet one by default).
#include <CLI/CLI.hpp>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/image.hpp"
#include "gpsa/io.hpp"
#include "gpsa/preprocess.hpp"

namespace gpsa::cli {
namespace {

struct preprocess_options {
  std::string image;
  std::string size = "224";
  bool has_size = false;
  std::string output;
  data_config_options data;
};

// --size as a decimal integer in [1, image::max_size]; anything else names the value.
std::size_t parse_size(const std::string& text) {
  const auto refuse = [&]() -> std::size_t {
    throw cli_error("--size '" + io::printable(text, 200) + "': expected an integer from 1 to " +
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

void run_preprocess(const preprocess_options& o) {
  require_path("--image", o.image);
  require_path("-o", o.output, true);
  if (o.has_size && !o.data.input_size.empty())
    throw cli_error("--size and --input-size: give one (--input-size C,S,S sets S too)");
  timm_data_config defaults;
  defaults.size = parse_size(o.size);
  const timm_data_config config = resolve_data_config(o.data, defaults, image::max_size);
  // Staged before the image is read: -o naming the image (any spelling, a symlink or a hard
  // link), a missing folder or an unwritable target fail first.
  io::output_set out;
  out.add_input(o.image, "--image");
  io::output_file& target = out.add(o.output, "-o");

  const image::rgb8_image img = image::read(o.image);
  const io::tensor x = image::preprocess(img, config, o.image);
  io::write_npy(target, x.shape, x.data);
  out.commit();
  timm_eval_plan plan;
  (void)plan_timm_eval({img.width, img.height}, config, plan);  // succeeded inside preprocess
  std::cout << io::display_path(o.output) << ": x " << io::shape_text(x.shape) << " float32 from "
            << io::display_path(o.image) << " ("
            << (img.format == image::file_format::png ? "PNG" : "JPEG") << ' ' << img.width << 'x'
            << img.height << ", " << img.source << "): " << describe_transform(plan) << '\n';
}

}  // namespace

void add_preprocess(CLI::App& app) {
  auto o = std::make_shared<preprocess_options>();
  CLI::App* cmd = app.add_subcommand(
      "preprocess",
      "Preprocess a PNG/JPEG image like timm's evaluation transform (ConViT's ImageNet "
      "configuration, or --input-size/--mean/--std/--interpolation/--crop-pct); write x.npy "
      "(1,C,S,S) float32");
  cmd->add_option("--image", o->image, "input image, PNG or JPEG")->required();
  CLI::Option* size =
      cmd->add_option("--size", o->size, "output side S (the image is resized to int(S/0.875))")
          ->capture_default_str();
  add_data_config_options(*cmd, o->data);
  cmd->add_option("-o,--output", o->output, "output x.npy")->required();
  cmd->callback([o, size] {
    o->has_size = size->count() > 0;
    run_preprocess(*o);
  });
}

}  // namespace gpsa::cli
