// SPDX-License-Identifier: MIT
// Entry point of the gpsa command-line tool: parses arguments, runs one subcommand and turns
// every failure into one line on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <csignal>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "gpsa/io.hpp"
#include "gpsa/version.hpp"

namespace {

// "gpsa bogus": CLI11 would only say that a subcommand is required; name the word instead.
bool unknown_command(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  const std::string word = argv[1];
  std::string known;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == word) return false;
    known += (known.empty() ? "" : ", ") + sub->get_name();
  }
  std::cerr << "gpsa: unknown command '" << gpsa::io::printable(word, 200)
            << "' (commands: " << known << "; see gpsa --help)\n";
  return true;
}

// The last line of defence of "one line, no terminal control codes": every message already
// escapes what it echoes (gpsa::io::printable); a control character left over (e.g. in a
// message of a library gpsa calls) becomes \xNN here. Backslashes stay: they already start
// escapes.
std::string one_line(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      out.append("\\x").append(1, hex[c >> 4]).append(1, hex[c & 15]);
    else
      out += ch;
  }
  return out;
}

// The subcommand that ran, for messages that would otherwise name nothing.
std::string command_of(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return sub->get_name();
  return "gpsa";
}

}  // namespace

int main(int argc, char** argv) {
#ifdef SIGXFSZ
  // Past a file-size limit write() then fails with EFBIG (a one-line error, temp file removed)
  // instead of the kernel killing gpsa and leaving the temp file behind.
  std::signal(SIGXFSZ, SIG_IGN);
#endif
  // SIGTERM, SIGINT, SIGHUP: remove every staged temporary, then die of the signal as usual.
  gpsa::io::install_cleanup_handlers();
  CLI::App app{"gpsa: gated positional self-attention (ConViT) tables, forward, firmware export"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gpsa " GPSA_VERSION_STRING);
  gpsa::cli::add_table(app);
  gpsa::cli::add_forward(app);
  gpsa::cli::add_fold(app);
  gpsa::cli::add_export(app);
  gpsa::cli::add_demo(app);
  gpsa::cli::add_preprocess(app);
  gpsa::cli::add_classify(app);
  if (unknown_command(app, argc, argv)) return 2;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "gpsa: " << one_line(e.what()) << " (see gpsa --help)\n";
    return 2;
  } catch (const std::bad_alloc&) {
    // Sizes are checked against the documented limits before anything large is allocated, so
    // this means the machine has less memory than those limits allow.
    std::cerr << "gpsa: " << command_of(app)
              << ": out of memory (the sizes were within the limits of docs/reliability.md, but "
                 "the machine could not provide them)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "gpsa: " << one_line(e.what()) << '\n';
    return 1;
  }
  return 0;
}
