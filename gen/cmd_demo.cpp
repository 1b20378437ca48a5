// gpsa demo — placeholder until its issue lands.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace gpsa::cli {
void add_demo(CLI::App& app) {
  app.add_subcommand("demo", "(not built yet)")->callback([] { throw cli_error("demo: not implemented yet"); });
}
}  // namespace gpsa::cli
