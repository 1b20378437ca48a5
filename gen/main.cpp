// SPDX-License-Identifier: MIT
// Entry point of the gpsa command-line tool: parses arguments, runs one subcommand and turns
// every failure into one line on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <csignal>
#include <exception>
#include <iostream>
#include <string>

#include "commands.hpp"
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
  std::cerr << "gpsa: unknown command '" << word << "' (commands: " << known
            << "; see gpsa --help)\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef SIGXFSZ
  // Past a file-size limit write() then fails with EFBIG (a one-line error, temp file removed)
  // instead of the kernel killing gpsa and leaving the temp file behind.
  std::signal(SIGXFSZ, SIG_IGN);
#endif
  CLI::App app{"gpsa: gated positional self-attention (ConViT) tables, forward, firmware export"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gpsa " GPSA_VERSION_STRING);
  gpsa::cli::add_table(app);
  gpsa::cli::add_forward(app);
  gpsa::cli::add_fold(app);
  gpsa::cli::add_demo(app);
  gpsa::cli::add_preprocess(app);
  gpsa::cli::add_classify(app);
  if (unknown_command(app, argc, argv)) return 2;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "gpsa: " << e.what() << " (see gpsa --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gpsa: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
