// SPDX-License-Identifier: MIT
// The shared argument checks of gpsa table, forward, fold and demo.
#include "cli_args.hpp"

#include <charconv>
#include <cstddef>
#include <filesystem>
#include <system_error>

#include "commands.hpp"

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
  const std::string shown = std::string(option) + " '" + text + "'";
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
  if (detail::mul_overflows(r, c, n))
    throw cli_error(shown + ": R*C overflows size_t (grid too large)");
  if (detail::mul_overflows(n, n, nn))
    throw cli_error(shown + ": N*N overflows size_t (grid too large)");
  return {r, c};
}

void check_output_paths(const named_paths& outputs, const named_paths& inputs) {
  namespace fs = std::filesystem;
  const auto same = [](const std::string& a, const std::string& b, bool existing) {
    std::error_code e1, e2, e3;
    if (existing && fs::equivalent(a, b, e1)) return true;
    const fs::path ca = fs::weakly_canonical(a, e2), cb = fs::weakly_canonical(b, e3);
    return (!e2 && !e3 && ca == cb) || a == b;
  };
  for (std::size_t i = 0; i < outputs.size(); ++i)
    for (std::size_t j = i + 1; j < outputs.size(); ++j)
      if (same(outputs[i].second, outputs[j].second, false))
        throw cli_error(outputs[i].first + " and " + outputs[j].first + " name the same file '" +
                        outputs[i].second + "'");
  for (const auto& [oopt, opath] : outputs)
    for (const auto& [iopt, ipath] : inputs)
      if (same(opath, ipath, true))
        throw cli_error(oopt + " '" + opath + "' is the input " + iopt + " '" + ipath +
                        "'; refusing to overwrite an input file");
}

}  // namespace gpsa::cli
