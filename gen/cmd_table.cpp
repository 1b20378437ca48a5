// gpsa table — placeholder until its issue lands.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace gpsa::cli {
void add_table(CLI::App& app) {
  app.add_subcommand("table", "(not built yet)")->callback([] { throw cli_error("table: not implemented yet"); });
}
}  // namespace gpsa::cli
