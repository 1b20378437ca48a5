// SPDX-License-Identifier: MIT
// The gpsa CLI's subcommands; each registers itself on the CLI11 app.
#pragma once

#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace gpsa::cli {

// A user-facing failure: main prints "gpsa: <what>" on one line and exits 1.
struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void add_table(CLI::App& app);
void add_forward(CLI::App& app);
void add_fold(CLI::App& app);
void add_export(CLI::App& app);
void add_demo(CLI::App& app);
void add_preprocess(CLI::App& app);
void add_classify(CLI::App& app);

}  // namespace gpsa::cli
