// SPDX-License-Identifier: MIT
// gpsa classify's result formats (table, CSV, JSON lines) and its terminal progress bar.
#include "classify_output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "commands.hpp"
#include "gpsa/runtime/io.hpp"

namespace gpsa::cli {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Shortest text that reads back as the same float (9 significant digits suffice); inf/nan as
// JSON and CSV readers spell them in Python.
std::string exact(double v, bool json) {
  if (std::isnan(v)) return json ? "NaN" : "nan";
  if (std::isinf(v)) return v > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string pad(const std::string& s, std::size_t width) {
  std::string out;
  if (s.size() < width) out.assign(width - s.size(), ' ');
  out += s;
  return out;
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_field(std::string_view text) {
  const std::string s = io::printable(text, 4096);
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// A JSON string: io::printable has already removed control characters and invalid UTF-8.
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : io::printable(text, 4096)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

result_format parse_result_format(const std::string& text) {
  if (text == "table") return result_format::table;
  if (text == "csv") return result_format::csv;
  if (text == "jsonl") return result_format::jsonl;
  throw cli_error("--format '" + io::printable(text, 200) + "': expected table, csv or jsonl");
}

top_k top_classes(std::span<const float> logits, std::size_t k) {
  k = std::min(k, logits.size());
  std::vector<std::size_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  const auto before = [&](std::size_t a, std::size_t b) {
    const float x = logits[a], y = logits[b];
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return x > y;
  };
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                    [&](std::size_t a, std::size_t b) {
                      if (before(a, b)) return true;
                      if (before(b, a)) return false;
                      return a < b;
                    });
  idx.resize(k);
  double peak = -static_cast<double>(INFINITY);
  for (const float v : logits) peak = std::max(peak, static_cast<double>(v));
  double sum = 0;
  for (const float v : logits) sum += std::exp(static_cast<double>(v) - peak);
  top_k out;
  out.classes = std::move(idx);
  for (const std::size_t j : out.classes)
    out.probability.push_back(std::exp(static_cast<double>(logits[j]) - peak) / sum);
  return out;
}

result_writer::result_writer(result_format format, std::span<const std::string> labels,
                             bool show_names)
    : format_(format), labels_(labels), show_names_(show_names) {}

std::string result_writer::header() const {
  std::string h;
  if (format_ == result_format::table) {
    h = "image  rank  class         logit  probability";
    if (!labels_.empty()) h += "  label";
    if (show_names_) h += "  file";
    h += '\n';
  } else if (format_ == result_format::csv) {
    h = "image,rank,class,logit,probability";
    if (!labels_.empty()) h += ",label";
    h += '\n';
  }
  return h;
}

std::string result_writer::image(std::size_t index, std::string_view name,
                                 std::span<const float> logits, std::size_t k) const {
  const top_k top = top_classes(logits, k);
  std::string out;
  if (format_ == result_format::jsonl) {
    out += "{\"image\":";
    out += json_string(name);
    out += ",\"top\":[";
    for (std::size_t r = 0; r < top.classes.size(); ++r) {
      const std::size_t j = top.classes[r];
      if (r != 0) out += ',';
      out += "{\"rank\":";
      out += std::to_string(r + 1);
      out += ",\"class\":";
      out += std::to_string(j);
      out += ",\"logit\":";
      out += exact(static_cast<double>(logits[j]), true);
      out += ",\"probability\":";
      out += exact(top.probability[r], true);
      if (!labels_.empty()) {
        out += ",\"label\":";
        out += json_string(labels_[j]);
      }
      out += '}';
    }
    out += "]}\n";
    return out;
  }
  for (std::size_t r = 0; r < top.classes.size(); ++r) {
    const std::size_t j = top.classes[r];
    if (format_ == result_format::csv) {
      out += csv_field(name);
      out += ',';
      out += std::to_string(r + 1);
      out += ',';
      out += std::to_string(j);
      out += ',';
      out += exact(static_cast<double>(logits[j]), false);
      out += ',';
      out += exact(top.probability[r], false);
      if (!labels_.empty()) {
        out += ',';
        out += csv_field(labels_[j]);
      }
    } else {
      out += pad(std::to_string(index), 5);
      out += pad(std::to_string(r + 1), 6);
      out += pad(std::to_string(j), 7);
      out += pad(fixed(static_cast<double>(logits[j]), 6), 14);
      out += pad(fixed(top.probability[r], 6), 13);
      if (!labels_.empty()) {
        out += "  ";
        out += io::printable(labels_[j], 200);
      }
      if (show_names_) {
        out += "  ";
        out += io::printable(name, 200);
      }
    }
    out += '\n';
  }
  return out;
}

progress_bar::progress_bar(std::size_t total, std::FILE* stream)
    : total_(total), stream_(stream), on_(total > 1 && isatty(fileno(stream)) == 1) {}

void progress_bar::update(std::size_t done) {
  if (!on_) return;
  constexpr std::size_t width = 30;
  const std::size_t filled = total_ == 0 ? width : std::min(width, done * width / total_);
  std::fprintf(stream_, "\r[%s%s] %zu/%zu images", std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), done, total_);
  std::fflush(stream_);
  shown_ = true;
}

void progress_bar::finish() {
  if (!shown_) return;
  std::fprintf(stream_, "\r\x1b[K");  // back to the line's start, erase it
  std::fflush(stream_);
  shown_ = false;
}

}  // namespace gpsa::cli
