// Entry point of the gpsa command-line tool: parses arguments, runs one subcommand and turns
// every failure into one line on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <csignal>
#include <exception>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
#ifdef SIGXFSZ
  // Past a file-size limit write() then fails with EFBIG (a one-line error, temp file removed)
  // instead of the kernel killing gpsa and leaving the temp file behind.
  std::signal(SIGXFSZ, SIG_IGN);
#endif
  CLI::App app{"gpsa: gated positional self-attention (ConViT) tables, forward, firmware export"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gpsa 0.1.0");
  gpsa::cli::add_table(app);
  gpsa::cli::add_forward(app);
  gpsa::cli::add_fold(app);
  gpsa::cli::add_demo(app);
  gpsa::cli::add_preprocess(app);
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
