// SPDX-License-Identifier: MIT
// gpsa export: a whole timm ConViT checkpoint as one C99 header for firmware (configuration,
// every parameter and the folded positional state as const data, the gpsa_convit_weights
// descriptor), optionally refused when it does not fit a part's flash and RAM. The work is
// gpsa::convit (loading, checking, folding) and gpsa::codegen::convit_header.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/codegen.hpp"
#include "gpsa/gpsa.h"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "int8_calibration.hpp"

namespace gpsa::cli {
namespace {

struct export_options {
  std::string weights;
  std::string name;
  std::string output;
  std::string flash;
  std::string ram;
  int8_options int8;  // --int8 --calibration x.npy
};

// Bytes of C text per parameter at most: a literal such as "-1.17549435e-38f, " plus its share
// of the line breaks.
constexpr std::size_t kCBytesPerValue = 20;

// "N", "NK" or "NM" (K = 1024, M = 1024 * 1024): a byte count from 1 to 2^40; cli_error naming
// the flag and the text otherwise.
std::size_t parse_bytes(const std::string& text, const char* flag) {
  const auto refuse = [&]() -> std::size_t {
    throw cli_error(std::string(flag) + " '" + io::printable(text, 200) +
                    "': expected a byte count such as 1048576, 1024K or 1M");
  };
  std::string digits = text;
  std::size_t unit = 1;
  if (!digits.empty() && (digits.back() == 'K' || digits.back() == 'k')) {
    unit = 1024;
    digits.pop_back();
  } else if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'm')) {
    unit = 1024 * 1024;
    digits.pop_back();
  }
  if (digits.empty() || digits.size() > 13) return refuse();
  std::size_t v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return refuse();
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  if (v == 0 || v > (std::size_t{1} << 40) / unit) return refuse();
  return v * unit;
}

// --int8: the model quantised and calibrated (int8_calibration.hpp), written by
// codegen::convit_int8_header; the same --flash / --ram checks with the int8 sizes.
void run_export_int8(const export_options& o, const convit& model, const std::string& sha256,
                     std::size_t flash, std::size_t ram, io::output_set& out,
                     io::output_file& target) {
  const convit_config& c = model.config();
  const calibrated q = calibrated_int8(model, o.int8.calibration);
  const codegen::convit_int8_header_sizes sizes =
      codegen::convit_int8_header_size(q.model.weights());
  const std::string subject = io::display_path(o.weights);
  const std::size_t flash_need =
      sizes.code_bytes + sizes.float_bytes + sizes.folded_bytes + sizes.view_bytes;
  const std::size_t io_bytes = (c.channels * c.image_size * c.image_size + c.classes) * 4;
  const std::size_t ram_need = sizes.scratch_bytes + io_bytes;
  if (flash != 0 && flash_need > flash)
    throw cli_error(subject + ": the int8 model needs " + std::to_string(flash_need) +
                    " bytes of flash (int8 codes " + std::to_string(sizes.code_bytes) +
                    ", floats " + std::to_string(sizes.float_bytes) + ", folded state " +
                    std::to_string(sizes.folded_bytes) + ", views " +
                    std::to_string(sizes.view_bytes) + "), more than --flash " +
                    std::to_string(flash) + " before any code");
  if (ram != 0 && ram_need > ram)
    throw cli_error(subject + ": the int8 forward needs " + std::to_string(ram_need) +
                    " bytes of RAM (scratch " + std::to_string(sizes.scratch_bytes) +
                    ", one image and its logits " + std::to_string(io_bytes) +
                    "), more than --ram " + std::to_string(ram) + " before any stack");
  io::byte_budget text("-o '" + io::display_path(o.output) + "'", io::max_output_bytes);
  text.add("C text of the parameters",
           {sizes.code_bytes + sizes.float_bytes / 4 + sizes.folded_bytes / 4}, kCBytesPerValue);
  if (!text.ok()) throw cli_error(text.message() + " for one output file");

  codegen::header_options h;
  h.symbol = o.name;
  h.from.source_name = std::filesystem::path(o.weights).filename().string();
  h.from.source_sha256 = sha256;
  h.from.command = "gpsa export --int8 --calibration " +
                   std::filesystem::path(o.int8.calibration).filename().string() + " --weights " +
                   h.from.source_name + " --name " + o.name;
  target.write(codegen::convit_int8_header(q.model.weights(), h));
  out.commit();
  std::ostringstream report;
  report << q.summary << '\n'
         << io::display_path(o.output) << ": ConViT " << c.channels << 'x' << c.image_size << 'x'
         << c.image_size << ", D = " << c.dim << ", H = " << c.heads << ", depth " << c.depth
         << " (" << c.local_up_to_layer << " GPSA), " << c.classes << " classes, int8; flash "
         << flash_need << " B (int8 codes " << sizes.code_bytes << ", floats " << sizes.float_bytes
         << ", folded " << sizes.folded_bytes << ", views " << sizes.view_bytes << "), RAM scratch "
         << sizes.scratch_bytes << " B\n";
  print_report(report.str());
}

void run_export(const export_options& o) {
  require_path("--weights", o.weights);
  require_path("-o", o.output, true);
  if (!codegen::is_c_identifier(o.name))
    throw cli_error("--name '" + io::printable(o.name, 200) + "': not a C identifier");
  std::string lower = o.name;
  for (char& ch : lower)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  if (lower == "gpsa" || lower.rfind("gpsa_", 0) == 0)
    throw cli_error("--name '" + o.name +
                    "': clashes with <gpsa/gpsa.h>, whose names start with gpsa_ / GPSA_ "
                    "(choose another prefix)");
  // 0: no limit given
  const std::size_t flash = o.flash.empty() ? 0 : parse_bytes(o.flash, "--flash");
  const std::size_t ram = o.ram.empty() ? 0 : parse_bytes(o.ram, "--ram");

  o.int8.check();

  io::output_set out;
  out.add_input(o.weights, "--weights");
  if (o.int8.enabled) out.add_input(o.int8.calibration, "--calibration");
  io::output_file& target = out.add(o.output, "-o");
  std::string sha256;
  io::safetensors_file file;
  {
    const std::vector<std::uint8_t> bytes = io::read_file(o.weights);
    sha256 = codegen::sha256_hex(bytes);
    file = io::parse_safetensors(bytes, o.weights);
  }
  file.path = o.weights;
  convit_options keep;
  keep.keep_plain_weights = true;  // the header holds every parameter in timm's layout
  const gpsa::convit model(std::move(file), keep);
  const convit_config& c = model.config();
  // <gpsa/gpsa.h>'s model descriptor has no global_pool or use_pos_embed: such a model would run
  // as a token-pool model with pos_embed on the device, so it is refused here.
  if (c.pool != convit_pool::token || !c.use_pos_embed)
    throw cli_error(
        io::display_path(o.weights) + ": " +
        (c.pool != convit_pool::token ? "global_pool avg" : "no pos_embed (use_pos_embed=False)") +
        " is not supported by gpsa export and the C API yet (they run timm's default "
        "ConViT: token pool with pos_embed)");
  if (c.depth > GPSA_CONVIT_MAX_BLOCKS)
    throw cli_error(io::display_path(o.weights) + ": unsupported configuration: depth " +
                    std::to_string(c.depth) + " blocks, the C API takes at most " +
                    std::to_string(GPSA_CONVIT_MAX_BLOCKS) + " (GPSA_CONVIT_MAX_BLOCKS)");
  if (o.int8.enabled) {
    run_export_int8(o, model, sha256, flash, ram, out, target);
    return;
  }
  const codegen::convit_header_sizes sizes = codegen::convit_header_size(model.weights());

  // The part's budget: what the header puts in flash, and what one forward needs in RAM (the
  // low-memory plan's scratch plus one image and its logits). Code, stack and the rest of the
  // application come on top: the link against the part's memory map is the final word.
  const std::string subject = io::display_path(o.weights);
  const std::size_t flash_need = sizes.weight_bytes + sizes.folded_bytes + sizes.view_bytes;
  const std::size_t io_bytes = (c.channels * c.image_size * c.image_size + c.classes) * 4;
  const std::size_t ram_need = sizes.scratch_bytes + io_bytes;
  if (flash != 0 && flash_need > flash)
    throw cli_error(subject + ": the model needs " + std::to_string(flash_need) +
                    " bytes of flash (parameters " + std::to_string(sizes.weight_bytes) +
                    ", folded state " + std::to_string(sizes.folded_bytes) + ", views " +
                    std::to_string(sizes.view_bytes) + "), more than --flash " +
                    std::to_string(flash) + " before any code");
  if (ram != 0 && ram_need > ram)
    throw cli_error(subject + ": the forward needs " + std::to_string(ram_need) +
                    " bytes of RAM (low-memory scratch " + std::to_string(sizes.scratch_bytes) +
                    ", one image and its logits " + std::to_string(io_bytes) +
                    "), more than --ram " + std::to_string(ram) + " before any stack");
  io::byte_budget text("-o '" + io::display_path(o.output) + "'", io::max_output_bytes);
  text.add("C text of the parameters", {sizes.weight_bytes / 4 + sizes.folded_bytes / 4},
           kCBytesPerValue);
  if (!text.ok()) throw cli_error(text.message() + " for one output file");

  codegen::header_options h;
  h.symbol = o.name;
  h.from.source_name = std::filesystem::path(o.weights).filename().string();
  h.from.source_sha256 = sha256;
  h.from.command = "gpsa export --weights " + h.from.source_name + " --name " + o.name;
  target.write(codegen::convit_header(model.weights(), model.folded_state(), h));
  out.commit();
  std::ostringstream report;
  report << io::display_path(o.output) << ": ConViT " << c.channels << 'x' << c.image_size << 'x'
         << c.image_size << ", D = " << c.dim << ", H = " << c.heads << ", depth " << c.depth
         << " (" << c.local_up_to_layer << " GPSA), " << c.classes << " classes; flash "
         << flash_need << " B (parameters " << sizes.weight_bytes << ", folded "
         << sizes.folded_bytes << ", views " << sizes.view_bytes << "), RAM scratch "
         << sizes.scratch_bytes << " B (low memory)\n";
  print_report(report.str());
}

}  // namespace

void add_export(CLI::App& app) {
  auto o = std::make_shared<export_options>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write a whole ConViT checkpoint as one C99 header for firmware (const data)");
  cmd->add_option("--weights", o->weights, "timm ConViT checkpoint (.safetensors)")->required();
  cmd->add_option("--name", o->name, "C symbol prefix (macros upper-cased); not gpsa_...")
      ->required();
  cmd->add_option("-o,--output", o->output, "output header")->required();
  cmd->add_option("--flash", o->flash,
                  "refuse a model whose parameters and folded state exceed this many bytes of "
                  "flash (e.g. 1M)");
  cmd->add_option("--ram", o->ram,
                  "refuse a model whose forward (low-memory scratch, one image, logits) needs "
                  "more bytes of RAM (e.g. 128K)");
  add_int8_options(*cmd, o->int8, "write");
  cmd->callback([o] { run_export(*o); });
}

}  // namespace gpsa::cli
