// gpsa forward — placeholder until its issue lands.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace gpsa::cli {
void add_forward(CLI::App& app) {
  app.add_subcommand("forward", "(not built yet)")->callback([] { throw cli_error("forward: not implemented yet"); });
}
}  // namespace gpsa::cli
