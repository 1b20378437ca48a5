// gpsa fold — placeholder until its issue lands.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace gpsa::cli {
void add_fold(CLI::App& app) {
  app.add_subcommand("fold", "(not built yet)")->callback([] { throw cli_error("fold: not implemented yet"); });
}
}  // namespace gpsa::cli
