// SPDX-License-Identifier: MIT
// gpsa classify: a whole timm ConViT on preprocessed images (x.npy) or on one PNG/JPEG image;
// prints the top-K classes of every image, writes the logits and, optionally, the features.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "classify_output.hpp"
#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/core/convit.hpp"
#include "gpsa/core/preprocess.hpp"
#include "gpsa/image.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/npy.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "int8_calibration.hpp"
#include "model_text.hpp"
#include "output_arg.hpp"

namespace gpsa::cli {
namespace {

struct classify_options {
  std::string weights;
  std::string input;
  std::vector<std::string> images;  // files and folders
  std::string image_list;
  std::string output;
  std::string logits;
  std::string features;
  std::string format;
  std::string topk = "5";
  std::string batch = "16";
  std::string labels;
  std::string threads;
  std::string global_pool;
  std::string image_size;
  int8_options int8;         // --int8 --calibration x.npy
  data_config_options data;  // --input-size, --mean, --std, --interpolation, --crop-pct (images)
  bool fail_fast = false;
  // Which options were given (an empty path given is an error naming it, not "absent").
  bool has_input = false, has_image = false, has_image_list = false, has_output = false,
       has_logits = false, has_features = false, has_labels = false, has_threads = false,
       has_format = false, has_global_pool = false, has_image_size = false;
};

// Largest --labels file read (ImageNet's 1000 class names are about 30 kB).
constexpr std::uint64_t max_labels_bytes = std::uint64_t{16} << 20;
// Most images one run takes (files of the folders and lists included), and the largest list.
constexpr std::size_t max_images = 1'000'000;
constexpr std::uint64_t max_list_bytes = std::uint64_t{256} << 20;

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
  // UTF-16 (Windows' "Unicode" text) would become labels full of NUL bytes.
  if (text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF")
    throw cli_error(io::display_path(path) + ": UTF-16 text (byte-order mark " +
                    (text[0] == '\xFF' ? "FF FE" : "FE FF") +
                    "); save the labels as UTF-8, one per line");
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw cli_error(io::display_path(path) + ": not a text file (a NUL byte at offset " +
                    std::to_string(nul) +
                    "; UTF-16 without a byte-order mark?); give the labels as UTF-8, one per line");
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

// All of stdin ('-' for --input, --image or --image-list), at most `limit` bytes.
std::vector<std::uint8_t> read_stdin(const char* flag, std::uint64_t limit) {
  std::vector<std::uint8_t> bytes;
  char buf[1 << 16];
  while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
    bytes.insert(bytes.end(), buf, buf + std::cin.gcount());
    if (bytes.size() > limit)
      throw cli_error(std::string(flag) + " -: stdin holds more than " + io::bytes_text(limit) +
                      " (the limit)");
  }
  return bytes;
}

bool has_image_suffix(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// The image files of a run: each --image value (a folder gives its *.png, *.jpg, *.jpeg files,
// sorted by name; other files in it are left alone), then the lines of --image-list (one path per
// line, '-' reads the list from stdin; empty lines skipped). At most max_images.
std::vector<std::string> image_paths(const classify_options& o) {
  std::vector<std::string> out;
  const auto add = [&](std::string path) {
    if (out.size() == max_images)
      throw cli_error("more than " + std::to_string(max_images) +
                      " images in one run; split the list");
    out.push_back(std::move(path));
  };
  for (const std::string& v : o.images) {
    require_path("--image", v);
    std::error_code ec;
    if (std::filesystem::is_directory(v, ec)) {
      std::vector<std::string> files;
      for (const auto& e : std::filesystem::directory_iterator(v, ec))
        if (e.is_regular_file(ec) && has_image_suffix(e.path())) files.push_back(e.path().string());
      if (ec)
        throw cli_error("--image '" + io::printable(v, 200) +
                        "': cannot list the folder: " + ec.message());
      std::sort(files.begin(), files.end());
      if (files.empty())
        throw cli_error("--image '" + io::printable(v, 200) +
                        "': the folder has no *.png, *.jpg or *.jpeg file");
      for (std::string& f : files) add(std::move(f));
    } else {
      add(v);
    }
  }
  if (o.has_image_list) {
    require_path("--image-list", o.image_list);
    std::string text;
    if (o.image_list == "-") {
      const std::vector<std::uint8_t> bytes = read_stdin("--image-list", max_list_bytes);
      text.assign(bytes.begin(), bytes.end());
    } else {
      const std::vector<std::uint8_t> bytes = io::read_file(o.image_list, max_list_bytes);
      text.assign(bytes.begin(), bytes.end());
    }
    std::string_view rest = text;
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) add(std::string(line));
    }
    if (out.empty())
      throw cli_error("--image-list '" + io::printable(o.image_list, 200) + "': no image paths");
  }
  return out;
}

// Everything a run of images produces, in the order the images were given (failed ones left out).
struct results {
  std::vector<std::string> names;  // file path, or "x.npy[i]"
  std::vector<float> logits;       // (names.size(), classes)
  std::vector<float> features;     // (names.size(), T, D) with --features
  std::size_t failed = 0;
};

void run_classify(const classify_options& o) {
  const bool from_images = o.has_image || o.has_image_list;
  if (!o.has_input && !from_images)
    throw CLI::RequiredError("one of --input x.npy, --image FILE|FOLDER or --image-list F");
  if (o.has_input && from_images)
    throw CLI::ExcludesError("--input", o.has_image ? "--image" : "--image-list");
  const data_config_options& d = o.data;
  if (o.has_input && !(d.input_size.empty() && d.mean.empty() && d.std.empty() &&
                       d.interpolation.empty() && d.crop_pct.empty()))
    throw cli_error(
        "--input-size, --mean, --std, --interpolation and --crop-pct preprocess "
        "--image; --input x.npy is used as it is");
  const std::size_t topk_asked = parse_count(o.topk, "--topk", 1'000'000, "classes to print");
  const std::size_t batch = parse_count(o.batch, "--batch", 4096, "images per forward");
  o.int8.check();
  if (o.int8.enabled && o.has_features)
    throw cli_error("--features: the int8 forward gives logits only (drop --int8 for features)");
  if (o.int8.enabled && o.has_threads)
    throw cli_error("--threads: the int8 forward runs on this thread (drop --threads)");
  std::optional<std::size_t> threads;
  if (o.has_threads)
    threads = parse_count(o.threads, "--threads", max_threads, "worker threads, 1 = this one");
  const result_format format = o.has_format ? parse_result_format(o.format) : result_format::table;
  convit_options options;
  options.keep_plain_weights = o.int8.enabled;  // quantising reads the checkpoint's layout
  if (o.has_global_pool) {
    options.pool = convit_pool_from(o.global_pool);
    if (!options.pool)
      throw cli_error("--global-pool '" + io::printable(o.global_pool, 200) +
                      "': expected token or avg (timm's global_pool)");
  }
  if (o.has_image_size)
    options.image_size = parse_count(o.image_size, "--image-size", image::max_size,
                                     "timm's img_size, the side of the square input");
  if (o.has_logits && !o.has_format)
    throw cli_error("--logits goes with --format (without it, -o writes the logits)");

  // An empty path names its flag; every output is checked and staged (its temporary created)
  // before any work; an output may not be an input.
  require_path("--weights", o.weights);
  if (o.has_input) require_path("--input", o.input);
  if (o.has_labels) require_path("--labels", o.labels);
  if (o.int8.enabled) require_path("--calibration", o.int8.calibration);
  if (o.has_output) require_path("-o", o.output, true);
  if (o.has_logits) require_path("--logits", o.logits, true);
  if (o.has_features) require_path("--features", o.features, true);
  const std::vector<std::string> paths = from_images ? image_paths(o) : std::vector<std::string>{};
  // '-' is stdin, once: an image, x.npy or the list.
  const std::size_t dashes = static_cast<std::size_t>(std::count(paths.begin(), paths.end(), "-")) +
                             (o.has_input && o.input == "-") +
                             (o.has_image_list && o.image_list == "-");
  if (dashes > 1) throw cli_error("'-' (stdin) can be given once: one image, x.npy or the list");
  io::output_set out;
  out.add_input(o.weights, "--weights");
  if (o.has_input && o.input != "-") out.add_input(o.input, "--input");
  if (o.has_labels) out.add_input(o.labels, "--labels");
  if (o.int8.enabled) out.add_input(o.int8.calibration, "--calibration");
  if (o.has_image_list && o.image_list != "-") out.add_input(o.image_list, "--image-list");
  for (const std::string& p : paths)
    if (p != "-") out.add_input(p, "--image");
  // -o: the logits (.npy) without --format, the results in --format with it.
  // '-' is stdout (once); the report then goes to stderr.
  io::output_file* results_out =
      o.has_format && o.has_output ? &add_output(out, o.output, "-o") : nullptr;
  io::output_file* logits_out = !o.has_format && o.has_output ? &add_output(out, o.output, "-o")
                                : o.has_logits ? &add_output(out, o.logits, "--logits")
                                               : nullptr;
  io::output_file* features_out =
      o.has_features ? &add_output(out, o.features, "--features") : nullptr;
  const bool stdout_is_output = (o.has_output && o.output == "-") ||
                                (o.has_logits && o.logits == "-") ||
                                (o.has_features && o.features == "-");

  gpsa::convit model = gpsa::convit::load(o.weights, options);
  const convit_config& c = model.config();
  std::vector<std::string> labels;
  if (o.has_labels) labels = read_labels(o.labels, c.classes, o.weights);

  // Everything the forward of B images allocates, refused up front if it is too much; the
  // features of every image too (they are kept for the one --features file).
  const std::size_t workers = threads.value_or(1);
  const auto require_memory = [&](std::size_t B, std::size_t kept, const std::string& source) {
    std::size_t scratch = 0;
    if ((o.int8.enabled ? convit_int8_scratch_size(c, scratch)
                        : convit_scratch_size(c, B, workers, scratch)) != status::ok)
      throw cli_error(source + ": B = " + std::to_string(B) + " images is too large a batch");
    io::byte_budget budget(source + " (B = " + std::to_string(B) + ")");
    budget.add("logits", {kept, c.classes}, sizeof(float))
        .add("forward scratch", {scratch}, sizeof(float))
        .add("images", {B, c.channels, c.image_size, c.image_size}, sizeof(float));
    if (features_out != nullptr) budget.add("features", {kept, c.tokens(), c.dim}, sizeof(float));
    budget.require();
  };

  // --threads N: a pool of N workers (this thread + N - 1); without it no thread is started.
  std::unique_ptr<thread_pool_executor> pool;
  if (threads) {
    pool = start_workers(*threads, o.threads);
    model.set_executor(&pool->get());
  }

  std::ostringstream report;
  report << io::display_path(o.weights) << ": " << describe(model) << '\n';
  // --int8: the model quantised and calibrated once; every forward below is then its own.
  std::optional<calibrated> q;
  if (o.int8.enabled) {
    require_int8_supported(model, o.weights);
    q.emplace(calibrated_int8(model, o.int8.calibration));
    report << q->summary << '\n';
  }
  const auto forward = [&](std::span<const float> x, std::size_t B, std::span<float> lg,
                           std::span<float> ft) {
    if (!q) return model.forward(x, B, lg, ft);
    const std::vector<float> logits = q->model.forward(x, B);
    std::copy(logits.begin(), logits.end(), lg.begin());
  };
  results r;
  std::string source;
  std::vector<std::size_t> input_shape;
  if (o.has_input) {
    const io::tensor x = o.input == "-"
                             ? io::parse_npy(read_stdin("--input", io::max_input_bytes), "stdin")
                             : io::read_npy(o.input);
    source = o.input == "-" ? std::string("stdin") : io::display_path(o.input);
    const std::size_t B = model.batch_of(x.shape, source);
    if (B == 0) throw cli_error(source + " has shape " + io::shape_text(x.shape) + ": no images");
    require_memory(B, B, source);
    input_shape = x.shape;
    r.logits.resize(B * c.classes);
    if (features_out != nullptr) r.features.resize(B * c.tokens() * c.dim);
    forward(x.data, B, r.logits,
            features_out != nullptr ? std::span<float>(r.features) : std::span<float>());
    for (std::size_t b = 0; b < B; ++b) r.names.push_back(source + "[" + std::to_string(b) + "]");
  } else {
    require_image_model(c, o.weights, paths.front(),
                        "give the images preprocessed as --input x.npy (B," +
                            std::to_string(c.channels) + "," + std::to_string(c.image_size) + "," +
                            std::to_string(c.image_size) + ")");
    // The model's data configuration: its channels and size, the options' statistics,
    // interpolation and crop (ConViT's ImageNet defaults for an RGB model).
    const timm_data_config config =
        model_data_config(o.data, c.channels, c.image_size, image::max_size);
    source = paths.size() == 1 ? io::display_path(paths.front())
                               : std::to_string(paths.size()) + " images";
    require_memory(std::min(batch, paths.size()), paths.size(), source);
    std::vector<float> x;
    std::vector<std::string> names;
    progress_bar bar(paths.size());
    const auto flush = [&] {
      const std::size_t B = names.size();
      if (B == 0) return;
      const std::size_t at = r.names.size();
      r.logits.resize((at + B) * c.classes);
      const std::span<float> lg(r.logits.data() + at * c.classes, B * c.classes);
      std::span<float> ft;
      if (features_out != nullptr) {
        const std::size_t TD = c.tokens() * c.dim;
        r.features.resize((at + B) * TD);
        ft = std::span<float>(r.features.data() + at * TD, B * TD);
      }
      forward(x, B, lg, ft);
      for (std::string& n : names) r.names.push_back(std::move(n));
      names.clear();
      x.clear();
    };
    for (std::size_t i = 0; i < paths.size(); ++i) {
      try {
        const image::rgb8_image img =
            paths[i] == "-"
                ? image::decode(read_stdin("--image", image::max_file_bytes), "stdin", config)
                : image::read(paths[i], config);
        const io::tensor t = image::preprocess(img, config, paths[i]);
        x.insert(x.end(), t.data.begin(), t.data.end());
        names.push_back(paths[i]);
        if (paths.size() == 1) {
          timm_eval_plan plan;
          (void)plan_timm_eval({img.width, img.height}, config, plan);  // ok: preprocessed
          report << source << ": " << (img.format == image::file_format::png ? "PNG" : "JPEG")
                 << ' ' << img.width << 'x' << img.height << ", " << img.source << "; "
                 << describe_transform(plan) << '\n';
        }
      } catch (const io::io_error& e) {
        // A bad image is named and the others go on (--fail-fast: the run stops here).
        if (o.fail_fast || paths.size() == 1) throw;
        bar.finish();
        std::cerr << "gpsa: " << io::printable(e.what(), 400) << '\n';
        ++r.failed;
      }
      if (names.size() == batch) flush();
      bar.update(i + 1);
    }
    flush();
    bar.finish();
    if (r.names.empty())
      throw cli_error("none of the " + std::to_string(paths.size()) +
                      " images could be read (each is named above)");
  }
  pool.reset();

  const std::size_t n = r.names.size();
  if (logits_out != nullptr) {
    const std::size_t shape[] = {n, c.classes};
    io::write_npy(*logits_out, shape, r.logits);
  }
  if (features_out != nullptr) {
    const std::size_t shape[] = {n, c.tokens(), c.dim};
    io::write_npy(*features_out, shape, r.features);
  }
  const std::size_t k = std::min(topk_asked, c.classes);
  const result_writer writer(format, labels, from_images && paths.size() > 1);
  std::string body = writer.header();
  for (std::size_t b = 0; b < n; ++b)
    body += writer.image(b, r.names[b],
                         std::span<const float>(r.logits.data() + b * c.classes, c.classes), k);
  if (results_out != nullptr) results_out->write(body);
  out.commit();

  // The report, only now that every output is in place.
  const bool table = format == result_format::table;
  if (table || results_out != nullptr) {
    if (o.has_input)
      report << source << ": " << n << (n == 1 ? " image " : " images ")
             << io::shape_text(input_shape);
    else if (paths.size() == 1)
      report << source << ": 1 image (1," << c.channels << ',' << c.image_size << ','
             << c.image_size << ')';
    else
      report << source << ": " << n << (n == 1 ? " image" : " images") << " classified"
             << (r.failed != 0 ? ", " + std::to_string(r.failed) + " failed" : std::string());
    report << ", top " << k << " of " << c.classes
           << " classes (probability: softmax of the logits)\n";
  }
  if (results_out == nullptr) {
    if (table)
      report << body;
    else
      report.str(body);  // csv / jsonl on stdout: nothing but the results
  } else {
    report << "wrote " << io::display_path(o.output) << ": " << o.format << ", " << n
           << (n == 1 ? " image\n" : " images\n");
  }
  if (logits_out != nullptr && (table || results_out != nullptr))
    report << "wrote " << io::display_path(o.has_logits ? o.logits : o.output) << ": logits (" << n
           << ',' << c.classes << ") float32\n";
  if (features_out != nullptr && (table || results_out != nullptr))
    report << "wrote " << io::display_path(o.features) << ": features (" << n << ',' << c.tokens()
           << ',' << c.dim << ") float32 (after the final norm"
           << (c.has_class_token() ? ", class token first" : "") << ")\n";
  print_report(report.str(), stdout_is_output);

  // NaN logits (NaN or Inf in the weights or the input: they propagate as in PyTorch) make the
  // ranking meaningless: say so on stderr, once.
  std::size_t nan_images = 0, first = 0, first_count = 0;
  for (std::size_t b = 0; b < n; ++b) {
    const std::size_t nans = static_cast<std::size_t>(
        std::count_if(r.logits.begin() + static_cast<std::ptrdiff_t>(b * c.classes),
                      r.logits.begin() + static_cast<std::ptrdiff_t>((b + 1) * c.classes),
                      [](float v) { return std::isnan(v); }));
    if (nans != 0 && nan_images++ == 0) first = b, first_count = nans;
  }
  if (nan_images != 0)
    std::cerr << "gpsa: warning: " << nan_images << " of " << n
              << " image(s) have NaN logits (first: image " << first << ", " << first_count
              << " of " << c.classes
              << " classes), so their ranking means nothing; NaN or Inf in the weights or the "
                 "input propagate as in PyTorch\n";
  if (r.failed != 0)
    throw cli_error(std::to_string(r.failed) + " of " + std::to_string(paths.size()) +
                    " images could not be read (each is named above); the others are classified");
}

}  // namespace

void add_classify(CLI::App& app) {
  auto o = std::make_shared<classify_options>();
  CLI::App* cmd = app.add_subcommand(
      "classify",
      "Run a whole timm ConViT checkpoint on x.npy (B,3,S,S) or on PNG/JPEG images (files, "
      "folders, a list); print the top-K classes, write the logits (and features)");
  cmd->add_option("--weights", o->weights, "safetensors checkpoint of a timm ConViT")->required();
  CLI::Option* in =
      cmd->add_option("--input", o->input, "preprocessed images x.npy, (B,3,S,S) float32/float64");
  CLI::Option* im = cmd->add_option("--image", o->images,
                                    "PNG/JPEG images or folders of them (*.png, *.jpg, *.jpeg), "
                                    "preprocessed like timm's evaluation transform");
  CLI::Option* li = cmd->add_option("--image-list", o->image_list,
                                    "a file of image paths, one per line ('-': stdin)");
  CLI::Option* out = cmd->add_option(
      "-o,--output", o->output,
      "write the logits (N,classes) float32 .npy; with --format, the results in that format "
      "('-': stdout)");
  CLI::Option* fmt = cmd->add_option("--format", o->format,
                                     "results as table, csv or jsonl (on stdout, or -o FILE)");
  CLI::Option* lg =
      cmd->add_option("--logits", o->logits, "with --format: write the logits float32 .npy");
  CLI::Option* feat = cmd->add_option(
      "--features", o->features, "write the features after the final norm (N,T,D) float32 .npy");
  cmd->add_option("--topk", o->topk, "classes to print per image (at most the model's classes)")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "images per forward (memory: see docs/convit.md)")
      ->capture_default_str();
  cmd->add_flag("--fail-fast", o->fail_fast,
                "stop at the first image that cannot be read (default: name it, go on, exit 1)");
  CLI::Option* lab =
      cmd->add_option("--labels", o->labels, "class names, one per line (as many as classes)");
  CLI::Option* thr = cmd->add_option("--threads", o->threads,
                                     "split the work over N worker threads (results "
                                     "identical for any N; default: no thread is started)");
  CLI::Option* gp = cmd->add_option(
      "--global-pool", o->global_pool,
      "timm's global_pool, token or avg (default: the checkpoint's metadata, else token)");
  CLI::Option* isz = cmd->add_option(
      "--image-size", o->image_size,
      "timm's img_size (needed without pos_embed; default: the metadata, else from pos_embed)");
  add_int8_options(*cmd, o->int8, "run");
  add_data_config_options(*cmd, o->data);
  cmd->callback([o, in, im, li, out, fmt, lg, feat, lab, thr, gp, isz] {
    o->has_input = in->count() > 0;
    o->has_image = im->count() > 0;
    o->has_image_list = li->count() > 0;
    o->has_output = out->count() > 0;
    o->has_format = fmt->count() > 0;
    o->has_logits = lg->count() > 0;
    o->has_features = feat->count() > 0;
    o->has_labels = lab->count() > 0;
    o->has_threads = thr->count() > 0;
    o->has_global_pool = gp->count() > 0;
    o->has_image_size = isz->count() > 0;
    run_classify(*o);
  });
}

}  // namespace gpsa::cli
