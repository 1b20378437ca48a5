// SPDX-License-Identifier: MIT
// Entry point of the gpsa command-line tool: parses arguments, runs one subcommand and turns
// every failure into one line on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <csignal>
#include <exception>
#include <iostream>
#include <new>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>

#include "cli_args.hpp"
#include "commands.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/output_set.hpp"
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

std::string command_list(CLI::App& app) {
  std::string known;
  for (const CLI::App* sub : app.get_subcommands({}))
    known += (known.empty() ? "" : ", ") + sub->get_name();
  return known;
}

// A CLI11 parse error in gpsa's words: what was wrong, naming the option, and where to read on.
std::string in_gpsa_words(const CLI::ParseError& e, CLI::App& app) {
  const std::string what = e.what();
  const std::string cmd = command_of(app);
  const std::string help = cmd == "gpsa" ? "gpsa --help" : "gpsa help " + cmd;
  std::smatch m;
  const auto is = [&](const char* pattern) {
    return std::regex_match(what, m, std::regex(pattern));
  };
  std::string msg;
  if (what == "A subcommand is required")
    return "no command given (commands: " + command_list(app) + "; see gpsa --help)";
  if (is(R"((\S+): \d+ required \S+ missing)"))
    msg = m[1].str() + " needs a value";
  else if (is(R"((\S+): At Most (\d+) required but received (\d+))"))
    msg = m[1].str() + " was given " + m[3].str() + " times; it takes " +
          (m[2].str() == "1" ? std::string("one value") : "at most " + m[2].str() + " values");
  else if (is(R"((\S+): At least (\d+) required but received (\d+))"))
    msg = m[1].str() + " needs at least " + m[2].str() + " values, got " + m[3].str();
  else if (is(R"(Expected exactly (\d+) arguments to (\S+), got (\d+))"))
    msg = m[2].str() + " takes " + m[1].str() + " value(s), got " + m[3].str();
  else if (is(R"((\S+) excludes (\S+))"))
    msg = m[1].str() + " and " + m[2].str() + " cannot be used together";
  else if (is(R"((\S+) requires (\S+))"))
    msg = m[1].str() + " needs " + m[2].str();
  else if (is(R"(The following arguments? (?:was|were) not expected: (.*))"))
    msg = (m[1].str().rfind('-', 0) == 0 ? "unknown option '" : "unexpected argument '") +
          gpsa::io::printable(m[1].str(), 200) + "'";
  else if (is(R"(Could not convert: (\S+) = (.*))"))
    msg = m[1].str() + " '" + gpsa::io::printable(m[2].str(), 200) + "': not a valid value";
  else if (is(R"(The value (.*) is not an allowed value for (\S+))"))
    msg = m[2].str() + " '" + gpsa::io::printable(m[1].str(), 200) + "': not an allowed value";
  else
    msg = gpsa::io::printable(what, 400);
  return (cmd == "gpsa" ? "" : cmd + ": ") + msg + " (see " + help + ")";
}

// Every value is parsed by gpsa itself (its own one-line messages), so CLI11 sees text; --help
// shows what kind of value each option takes instead of TEXT.
void name_value_kinds(CLI::App& app) {
  static const std::pair<const char*, const char*> kinds[] = {
      {"topk", "INT"},        {"threads", "INT"},    {"size", "INT"},       {"layer", "INT"},
      {"batch", "INT"},       {"image-size", "INT"}, {"grid", "S|RxC"},     {"query", "p|y,x"},
      {"weights", "FILE"},    {"input", "FILE"},     {"image", "FILE"},     {"output", "FILE"},
      {"features", "FILE"},   {"labels", "FILE"},    {"attention", "FILE"}, {"distances", "FILE"},
      {"image-list", "FILE"}, {"iterations", "INT"}, {"warmup", "INT"}};
  for (CLI::App* sub : app.get_subcommands({}))
    for (CLI::Option* opt : sub->get_options())
      for (const auto& [name, kind] : kinds)
        if (opt->check_lname(name)) opt->type_name(kind);
}

// `gpsa help [COMMAND]`: the command's --help (or the overview); an unknown word is named.
int print_help(CLI::App& app, int argc, char** argv) {
  if (argc == 2) {
    std::cout << app.help();
    return 0;
  }
  if (argc > 3) {
    std::cerr << "gpsa: help takes one command (gpsa help COMMAND)\n";
    return 2;
  }
  for (CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name() == argv[2]) {
      std::cout << sub->help(app.get_name());
      return 0;
    }
  std::cerr << "gpsa: help: unknown command '" << gpsa::io::printable(argv[2], 200)
            << "' (commands: " << command_list(app) << ")\n";
  return 2;
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
  CLI::App app{"gpsa: gated positional self-attention (ConViT) tables, forward, firmware export",
               "gpsa"};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", "gpsa " GPSA_VERSION_STRING);
  app.footer("gpsa help COMMAND shows a command's options.");
  gpsa::cli::add_table(app);
  gpsa::cli::add_forward(app);
  gpsa::cli::add_fold(app);
  gpsa::cli::add_export(app);
  gpsa::cli::add_demo(app);
  gpsa::cli::add_preprocess(app);
  gpsa::cli::add_classify(app);
  gpsa::cli::add_bench(app);
  name_value_kinds(app);
  if (argc >= 2 && std::string_view(argv[1]) == "help") return print_help(app, argc, argv);
  if (unknown_command(app, argc, argv)) return 2;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version: printed like every report
      std::ostringstream text;
      const int rc = app.exit(e, text, std::cerr);
      try {
        gpsa::cli::print_report(text.str());
      } catch (const std::exception& x) {
        std::cerr << "gpsa: " << one_line(x.what()) << '\n';
        return 1;
      }
      return rc;
    }
    std::cerr << "gpsa: " << one_line(in_gpsa_words(e, app)) << '\n';
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
