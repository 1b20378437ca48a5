// SPDX-License-Identifier: MIT
// gpsa classify's results: the top-K of each image as a table, CSV or JSON lines, and the
// progress bar shown on a terminal while many images are classified.
#pragma once

#include <cstddef>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gpsa::cli {

enum class result_format { table, csv, jsonl };

// "table", "csv" or "jsonl"; cli_error naming --format and the text otherwise.
result_format parse_result_format(const std::string& text);

// One image's top-K: class indices, largest logit first (ties by index, NaN last), with the
// softmax probability of each (in double, the row's largest logit subtracted first).
struct top_k {
  std::vector<std::size_t> classes;
  std::vector<double> probability;
};
top_k top_classes(std::span<const float> logits, std::size_t k);

// Writes the results of images one after the other in one format. `labels` may be empty; the
// table shows `name` in a last column when `show_names` (more than one image file).
class result_writer {
 public:
  result_writer(result_format format, std::span<const std::string> labels, bool show_names);
  // The header (table: the column titles; csv: the column names; jsonl: nothing).
  std::string header() const;
  // The lines of image `index` named `name` (its file, or "x.npy[3]").
  std::string image(std::size_t index, std::string_view name, std::span<const float> logits,
                    std::size_t k) const;

 private:
  result_format format_;
  std::span<const std::string> labels_;
  bool show_names_;
};

// "[#####.....] 37/100 images" redrawn in place on stderr, only when stderr is a terminal (never
// in a pipe or a log file); finish() clears the line.
class progress_bar {
 public:
  explicit progress_bar(std::size_t total, std::FILE* stream = stderr);
  void update(std::size_t done);
  void finish();
  ~progress_bar() { finish(); }
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

 private:
  std::size_t total_;
  std::FILE* stream_;
  bool shown_ = false;
  bool on_ = false;
};

}  // namespace gpsa::cli
