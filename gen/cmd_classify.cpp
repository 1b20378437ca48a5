// SPDX-License-Identifier: MIT
// gpsa classify: a whole timm ConViT on preprocessed images (x.npy) or on one PNG/JPEG image;
// prints the top-K classes of every image, writes the logits and, optionally, the features.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/convit.hpp"
#include "gpsa/executor.hpp"
#include "gpsa/image.hpp"
#include "gpsa/io.hpp"
#include "gpsa/model.hpp"
#include "gpsa/preprocess.hpp"
#include "int8_calibration.hpp"

namespace gpsa::cli {
namespace {

struct classify_options {
  std::string weights;
  std::string input;
  std::string image;
  std::string output;
  std::string features;
  std::string topk = "5";
  std::string labels;
  std::string threads;
  int8_options int8;         // --int8 --calibration x.npy
  data_config_options data;  // --input-size, --mean, --std, --interpolation, --crop-pct (--image)
  // Which options were given (an empty path given is an error naming it, not "absent").
  bool has_input = false, has_image = false, has_output = false, has_features = false,
       has_labels = false, has_threads = false;
};

// Most worker threads --threads accepts (the work splits over (image, head) pairs).
constexpr std::size_t max_threads = 256;
// Largest --labels file read (ImageNet's 1000 class names are about 30 kB).
constexpr std::uint64_t max_labels_bytes = std::uint64_t{16} << 20;

std::string quoted(const std::string& s) { return "'" + io::printable(s, 200) + "'"; }

// A decimal integer in [1, max] for `flag`; anything else is an error naming the value.
std::size_t parse_count(const std::string& text, std::string_view flag, std::size_t max,
                        std::string_view what) {
  std::size_t v = 0;
  bool ok = !text.empty() && text.size() <= 9;
  for (const char c : text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  if (!ok || v == 0 || v > max)
    throw cli_error(std::string(flag) + " " + quoted(text) + ": expected an integer from 1 to " +
                    std::to_string(max) + " (" + std::string(what) + ")");
  return v;
}

// One label per line ('\n' or "\r\n"; a final newline ends the last line, it does not start an
// empty one; a UTF-8 byte-order mark at the start is skipped). The count must be the model's.
std::vector<std::string> read_labels(const std::string& path, std::size_t classes,
                                     const std::string& weights) {
  const std::vector<std::uint8_t> bytes = io::read_file(path, max_labels_bytes);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> labels;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    labels.emplace_back(line);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  if (labels.size() != classes)
    throw cli_error(io::display_path(path) + ": " + std::to_string(labels.size()) +
                    " labels (one per line), but " + io::display_path(weights) + " has " +
                    std::to_string(classes) +
                    " classes (rows of head.weight); give exactly one label per class");
  return labels;
}

// Softmax of one row in double (a stable one: the largest logit is subtracted first).
std::vector<double> probabilities(std::span<const float> logits) {
  double peak = -INFINITY;
  for (const float v : logits) peak = std::max(peak, static_cast<double>(v));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (std::size_t j = 0; j < logits.size(); ++j) sum += p[j] = std::exp(logits[j] - peak);
  for (double& v : p) v /= sum;
  return p;
}

// The k largest logits' classes, largest first; ties by class index; NaN last.
std::vector<std::size_t> top_classes(std::span<const float> logits, std::size_t k) {
  std::vector<std::size_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  const auto before = [&](std::size_t a, std::size_t b) {
    const float x = logits[a], y = logits[b];
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return x > y;
  };
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                    [&](std::size_t a, std::size_t b) {
                      if (before(a, b)) return true;
                      if (before(b, a)) return false;
                      return a < b;
                    });
  idx.resize(k);
  return idx;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(std::string s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// The model in one line, e.g. "ConViT 224x224 (14x14 patches of 16 px), D = 192, H = 4, ...".
std::string describe(const convit& m) {
  const convit_config& c = m.config();
  const std::size_t G = c.grid_side();
  return "ConViT " + std::to_string(c.image_size) + "x" + std::to_string(c.image_size) + " (" +
         std::to_string(G) + "x" + std::to_string(G) + " patches of " +
         std::to_string(c.patch_size) + " px), D = " + std::to_string(c.dim) +
         ", H = " + std::to_string(c.heads) + ", depth " + std::to_string(c.depth) + " (" +
         std::to_string(c.local_up_to_layer) + " GPSA + " +
         std::to_string(c.depth - c.local_up_to_layer) + " MHSA)" +
         (m.qkv_bias() ? ", qkv bias" : "") + ", " + std::to_string(c.classes) + " classes";
}

void run_classify(const classify_options& o) {
  if (!o.has_input && !o.has_image)
    throw CLI::RequiredError("one of --input x.npy or --image FILE");
  const data_config_options& d = o.data;
  if (o.has_input && !(d.input_size.empty() && d.mean.empty() && d.std.empty() &&
                       d.interpolation.empty() && d.crop_pct.empty()))
    throw cli_error(
        "--input-size, --mean, --std, --interpolation and --crop-pct preprocess "
        "--image; --input x.npy is used as it is");
  const std::size_t topk_asked = parse_count(o.topk, "--topk", 1'000'000, "classes to print");
  o.int8.check();
  if (o.int8.enabled && o.has_features)
    throw cli_error("--features: the int8 forward gives logits only (drop --int8 for features)");
  if (o.int8.enabled && o.has_threads)
    throw cli_error("--threads: the int8 forward runs on this thread (drop --threads)");
  std::optional<std::size_t> threads;
  if (o.has_threads)
    threads = parse_count(o.threads, "--threads", max_threads, "worker threads, 1 = this one");

  // Every output is checked and staged (its temporary created) before any work; an output may
  // not be an input. Empty input paths are refused by the readers, naming them.
  io::output_set out;
  const auto input = [&](const std::string& path, const char* flag) {
    if (!path.empty()) out.add_input(path, flag);
  };
  input(o.weights, "--weights");
  input(o.input, "--input");
  input(o.image, "--image");
  input(o.labels, "--labels");
  input(o.int8.calibration, "--calibration");
  io::output_file* logits_out = o.has_output ? &out.add(o.output, "-o") : nullptr;
  io::output_file* features_out = o.has_features ? &out.add(o.features, "--features") : nullptr;

  gpsa::convit model = gpsa::convit::load(o.weights);
  const convit_config& c = model.config();
  std::vector<std::string> labels;
  if (o.has_labels) labels = read_labels(o.labels, c.classes, o.weights);

  // The images: x.npy as given, or one image file preprocessed like timm's evaluation transform.
  std::ostringstream report;
  report << io::display_path(o.weights) << ": " << describe(model) << '\n';
  io::tensor x;
  std::string source;
  if (o.has_input) {
    x = io::read_npy(o.input);
    source = io::display_path(o.input);
  } else {
    // The model's data configuration: its channels and size, the options' statistics,
    // interpolation and crop (ConViT's ImageNet defaults for an RGB model).
    const timm_data_config config =
        model_data_config(o.data, c.channels, c.image_size, image::max_size);
    const image::rgb8_image img = image::read(o.image);
    x = image::preprocess(img, config, o.image);
    timm_eval_plan plan;
    (void)plan_timm_eval({img.width, img.height}, config, plan);  // ok inside preprocess
    source = io::display_path(o.image);
    report << source << ": " << (img.format == image::file_format::png ? "PNG" : "JPEG") << ' '
           << img.width << 'x' << img.height << ", " << img.source << "; "
           << describe_transform(plan) << '\n';
  }
  const std::size_t B = model.batch_of(x.shape, source);
  if (B == 0) throw cli_error(source + " has shape " + io::shape_text(x.shape) + ": no images");

  // Everything the forward allocates, refused up front if it is too much.
  const std::size_t workers = threads.value_or(1);
  std::size_t scratch = 0;
  if ((o.int8.enabled ? convit_int8_scratch_size(c, scratch)
                      : convit_scratch_size(c, B, workers, scratch)) != status::ok)
    throw cli_error(source + ": B = " + std::to_string(B) + " images is too large a batch");
  io::byte_budget budget(source + " (B = " + std::to_string(B) + ")");
  budget.add("logits", {B, c.classes}, sizeof(float))
      .add("forward scratch", {scratch}, sizeof(float));
  if (features_out != nullptr) budget.add("features", {B, c.tokens(), c.dim}, sizeof(float));
  budget.require();

  // --threads N: a pool of N workers (this thread + N - 1); without it no thread is started.
  std::unique_ptr<thread_pool_executor> pool;
  if (threads) {
    pool = std::make_unique<thread_pool_executor>(*threads);
    model.set_executor(&pool->get());
  }
  std::vector<float> features;
  std::vector<float> logits;
  if (o.int8.enabled) {
    const calibrated q = calibrated_int8(model, o.int8.calibration);
    report << q.summary << '\n';
    logits = q.model.forward(x.data, B);
  } else {
    logits = model.forward(x.data, B, features_out != nullptr ? &features : nullptr);
  }
  pool.reset();

  if (logits_out != nullptr) {
    const std::size_t shape[] = {B, c.classes};
    io::write_npy(*logits_out, shape, logits);
  }
  if (features_out != nullptr) {
    const std::size_t shape[] = {B, c.tokens(), c.dim};
    io::write_npy(*features_out, shape, features);
  }
  out.commit();

  // The report, only now that every output is in place.
  const std::size_t k = std::min(topk_asked, c.classes);
  report << source << ": " << B << (B == 1 ? " image " : " images ") << io::shape_text(x.shape)
         << ", top " << k << " of " << c.classes << " classes (probability: softmax of the logits)"
         << '\n';
  report << "image  rank  class         logit  probability" << (labels.empty() ? "" : "  label")
         << '\n';
  for (std::size_t b = 0; b < B; ++b) {
    const std::span<const float> row(logits.data() + b * c.classes, c.classes);
    const std::vector<double> p = probabilities(row);
    const std::vector<std::size_t> top = top_classes(row, k);
    for (std::size_t r = 0; r < top.size(); ++r) {
      const std::size_t j = top[r];
      report << pad(std::to_string(b), 5) << pad(std::to_string(r + 1), 6)
             << pad(std::to_string(j), 7) << pad(fixed(row[j], 6), 14) << pad(fixed(p[j], 6), 13);
      if (!labels.empty()) report << "  " << io::printable(labels[j], 200);
      report << '\n';
    }
  }
  if (logits_out != nullptr)
    report << "wrote " << io::display_path(o.output) << ": logits (" << B << ',' << c.classes
           << ") float32\n";
  if (features_out != nullptr)
    report << "wrote " << io::display_path(o.features) << ": features (" << B << ',' << c.tokens()
           << ',' << c.dim << ") float32 (after the final norm"
           << (c.has_class_token() ? ", class token first" : "") << ")\n";
  std::cout << report.str() << std::flush;
}

}  // namespace

void add_classify(CLI::App& app) {
  auto o = std::make_shared<classify_options>();
  CLI::App* cmd = app.add_subcommand(
      "classify",
      "Run a whole timm ConViT checkpoint on x.npy (B,3,S,S) or on a PNG/JPEG image; print the "
      "top-K classes, write the logits (and features)");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint of a timm ConViT")->required();
  CLI::Option* in =
      cmd->add_option("--input", o->input, "preprocessed images x.npy, (B,3,S,S) float32/float64");
  CLI::Option* im = cmd->add_option(
      "--image", o->image, "a PNG or JPEG image, preprocessed like timm's evaluation transform");
  in->excludes(im);
  im->excludes(in);
  CLI::Option* out =
      cmd->add_option("-o,--output", o->output, "write the logits (B,classes) float32 .npy");
  CLI::Option* feat = cmd->add_option(
      "--features", o->features, "write the features after the final norm (B,N+1,D) float32 .npy");
  cmd->add_option("--topk", o->topk, "classes to print per image (at most the model's classes)")
      ->capture_default_str();
  CLI::Option* lab =
      cmd->add_option("--labels", o->labels, "class names, one per line (as many as classes)");
  CLI::Option* thr = cmd->add_option("--threads", o->threads,
                                     "split the attention over N worker threads (results "
                                     "identical for any N; default: no thread is started)");
  add_int8_options(*cmd, o->int8, "run");
  add_data_config_options(*cmd, o->data);
  cmd->callback([o, in, im, out, feat, lab, thr] {
    o->has_input = in->count() > 0;
    o->has_image = im->count() > 0;
    o->has_output = out->count() > 0;
    o->has_features = feat->count() > 0;
    o->has_labels = lab->count() > 0;
    o->has_threads = thr->count() > 0;
    run_classify(*o);
  });
}

}  // namespace gpsa::cli
