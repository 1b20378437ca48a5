// SPDX-License-Identifier: MIT
// The `gpsa` Python module (pybind11): the whole ConViT, one GPSA layer, timm's preprocessing,
// the relative-index tables and the fold, with NumPy arrays in and out.
//
// Conventions (docs/python.md):
// - Inputs: a C-contiguous float32 array is used in place; anything else goes through one
//   conversion (numpy.ascontiguousarray(x, dtype=numpy.float32)).
// - Outputs: new float32 arrays that own their memory (a std::vector moved into the array, or an
//   array allocated by NumPy and written by the kernels): never copied after the compute.
// - The GIL is released while gpsa computes or reads files; other Python threads run meanwhile.
// - Errors: gpsa's one-line messages as gpsa.Error subclasses (FileError, CheckpointError,
//   InputError); argument mistakes the binding catches itself are ValueError / TypeError.
// - Threads: threads=N gives the object its own gpsa::thread_pool_executor of N workers (the
//   calling thread + N - 1); results are bit-identical for every N, and the CLI's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gpsa/detail/checked.hpp"
#include "gpsa/image.hpp"
#include "gpsa/rel_indices.hpp"
#include "gpsa/runtime/byte_budget.hpp"
#include "gpsa/runtime/checkpoint.hpp"
#include "gpsa/runtime/convit.hpp"
#include "gpsa/runtime/folded_state.hpp"
#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/layer.hpp"
#include "gpsa/runtime/thread_pool_executor.hpp"
#include "gpsa/version.hpp"

namespace py = pybind11;

namespace {

// Most workers threads= accepts (as the CLI's --threads).
constexpr std::size_t max_threads = 256;

using f32_array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// x as a C-contiguous float32 array: the same object when it already is one (no copy), else one
// conversion. Non-numeric input is a TypeError naming `what`.
f32_array as_f32(const py::handle& x, const char* what) {
  f32_array a = f32_array::ensure(x);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(what) +
                         ": expected a numeric array (anything numpy.asarray(x, "
                         "dtype=numpy.float32) accepts), got " +
                         std::string(py::str(py::type::of(x).attr("__name__"))));
  }
  return a;
}

std::vector<std::size_t> shape_of(const py::array& a) {
  std::vector<std::size_t> s(static_cast<std::size_t>(a.ndim()));
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::size_t>(a.shape(i));
  return s;
}

// A std::vector handed to NumPy without a copy: the array owns it through a capsule.
py::array_t<float> to_numpy(std::vector<float>&& v, std::vector<std::size_t> shape) {
  auto* owner = new std::vector<float>(std::move(v));
  py::capsule free_it(owner, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<float>(dims, owner->data(), free_it);
}

py::array_t<float> new_array(std::vector<std::size_t> shape) {
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<float>(dims);
}

// threads=None / N: a pool of N workers (N = 1 starts no thread), or none.
std::unique_ptr<gpsa::thread_pool_executor> make_pool(std::optional<long long> threads) {
  if (!threads) return nullptr;
  if (*threads < 1 || static_cast<unsigned long long>(*threads) > max_threads)
    throw py::value_error("threads=" + std::to_string(*threads) +
                          ": expected a number of worker threads from 1 to " +
                          std::to_string(max_threads) + " (or None: no thread is started)");
  return std::make_unique<gpsa::thread_pool_executor>(static_cast<std::size_t>(*threads));
}

// grid=S or grid=(R, C).
using grid_arg = std::variant<long long, std::pair<long long, long long>>;

gpsa::grid to_grid(const grid_arg& g, const char* what) {
  long long r = 0, c = 0;
  if (const auto* s = std::get_if<long long>(&g))
    r = c = *s;
  else
    std::tie(r, c) = std::get<std::pair<long long, long long>>(g);
  if (r < 1 || c < 1)
    throw py::value_error(std::string(what) + "=(" + std::to_string(r) + ", " + std::to_string(c) +
                          "): expected S or (R, C) with positive integers");
  const gpsa::grid out{static_cast<std::size_t>(r), static_cast<std::size_t>(c)};
  std::size_t n = 0, nn = 0;
  if (!gpsa::detail::checked_mul<std::size_t>(out.rows, out.cols, n) ||
      !gpsa::detail::checked_mul<std::size_t>(n, n, nn))
    throw py::value_error(std::string(what) + "=(" + std::to_string(r) + ", " + std::to_string(c) +
                          "): N*N overflows (grid too large)");
  return out;
}

std::string grid_text(gpsa::grid g) {
  return std::to_string(g.rows) + "x" + std::to_string(g.cols);
}

// ---- gpsa.ConViT ------------------------------------------------------------------------------

class py_convit {
 public:
  py_convit(const std::filesystem::path& path, std::optional<long long> threads,
            std::optional<long long> image_size, std::optional<std::string> global_pool)
      : pool_(make_pool(threads)), path_(path) {
    gpsa::convit_options o;
    if (image_size) {
      if (*image_size < 1)
        throw py::value_error("image_size=" + std::to_string(*image_size) +
                              ": expected a positive integer (timm's img_size)");
      o.image_size = static_cast<std::size_t>(*image_size);
    }
    if (global_pool) {
      o.pool = gpsa::convit_pool_from(*global_pool);
      if (!o.pool)
        throw py::value_error("global_pool='" + gpsa::io::printable(*global_pool, 200) +
                              "': expected 'token' or 'avg'");
    }
    {
      py::gil_scoped_release free;
      model_ = std::make_unique<gpsa::convit>(gpsa::convit::load(path, o));
    }
    if (pool_) model_->set_executor(&pool_->get());
  }

  const gpsa::convit_config& config() const { return model_->config(); }

  // logits (B, classes) and, when asked, features (B, T, D), in one forward.
  std::pair<py::array_t<float>, std::optional<py::array_t<float>>> run(const py::handle& x_in,
                                                                       bool with_features) const {
    const f32_array x = as_f32(x_in, "x");
    const std::vector<std::size_t> shape = shape_of(x);
    const std::size_t B = model_->batch_of(shape, "x");
    const gpsa::convit_config& c = config();
    if (B == 0)
      return {new_array({0, c.classes}),
              with_features ? std::optional(new_array({0, c.tokens(), c.dim})) : std::nullopt};
    // Refused up front: the outputs and the forward's scratch over gpsa's work limit.
    std::size_t scratch = 0;
    const std::size_t workers = pool_ ? pool_->workers() : 1;
    if (gpsa::convit_scratch_size(c, B, workers, scratch) != gpsa::status::ok)
      throw gpsa::model_error("x has shape " + gpsa::io::shape_text(shape) +
                              ": B = " + std::to_string(B) + " images is too large a batch");
    gpsa::io::byte_budget budget("x " + gpsa::io::shape_text(shape));
    budget.add("logits", {B, c.classes}, sizeof(float))
        .add("forward scratch", {scratch}, sizeof(float));
    if (with_features) budget.add("features", {B, c.tokens(), c.dim}, sizeof(float));
    if (!budget.ok()) throw gpsa::model_error(budget.message());

    py::array_t<float> logits = new_array({B, c.classes});
    std::optional<py::array_t<float>> features;
    if (with_features) features = new_array({B, c.tokens(), c.dim});
    const std::span<const float> in(x.data(), static_cast<std::size_t>(x.size()));
    const std::span<float> out(logits.mutable_data(), static_cast<std::size_t>(logits.size()));
    const std::span<float> feat =
        features
            ? std::span<float>(features->mutable_data(), static_cast<std::size_t>(features->size()))
            : std::span<float>();
    {
      py::gil_scoped_release free;
      model_->forward(in, B, out, feat);
    }
    return {std::move(logits), std::move(features)};
  }

  std::string repr() const {
    const gpsa::convit_config& c = config();
    const std::size_t G = c.grid_side();
    return "<gpsa.ConViT " + gpsa::io::printable(path_.string(), 200) + ": " +
           std::to_string(c.image_size) + "x" + std::to_string(c.image_size) + " images (" +
           std::to_string(G) + "x" + std::to_string(G) + " patches of " +
           std::to_string(c.patch_size) + " px), D = " + std::to_string(c.dim) +
           ", H = " + std::to_string(c.heads) + ", depth " + std::to_string(c.depth) + " (" +
           std::to_string(c.local_up_to_layer) + " GPSA + " +
           std::to_string(c.depth - c.local_up_to_layer) + " MHSA)" +
           (model_->qkv_bias() ? ", qkv bias" : "") + (c.use_pos_embed ? "" : ", no pos_embed") +
           ", " + std::to_string(c.classes) + " classes, global_pool " +
           gpsa::convit_pool_name(c.pool) +
           ", threads=" + (pool_ ? std::to_string(pool_->workers()) : "None") + ">";
  }

  std::optional<std::size_t> threads() const {
    if (!pool_) return std::nullopt;
    return pool_->workers();
  }
  bool qkv_bias() const { return model_->qkv_bias(); }
  std::size_t parameter_count() const { return model_->parameter_count(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::unique_ptr<gpsa::thread_pool_executor> pool_;  // outlives model_'s use of it
  std::unique_ptr<gpsa::convit> model_;
  std::filesystem::path path_;
};

// ---- gpsa.Layer -------------------------------------------------------------------------------

class py_layer {
 public:
  py_layer(const std::filesystem::path& path, const std::string& prefix,
           std::optional<grid_arg> grid, std::optional<long long> threads)
      : pool_(make_pool(threads)) {
    std::optional<gpsa::grid> g;
    if (grid) g = to_grid(*grid, "grid");
    {
      py::gil_scoped_release free;
      layer_ = std::make_unique<gpsa::layer>(gpsa::layer::load(path, prefix, g));
    }
    if (pool_) layer_->set_executor(&pool_->get());
  }

  // x (B, N, D): B and a checked shape.
  std::size_t batch(const std::vector<std::size_t>& shape) const {
    if (shape.size() != 3 || shape[2] != layer_->dim())
      throw gpsa::layer_error("x has shape " + gpsa::io::shape_text(shape) + ", expected (B,N," +
                              std::to_string(layer_->dim()) + "): this layer's width D is " +
                              std::to_string(layer_->dim()));
    return shape[0];
  }

  enum class what { output, attention, nonlocality };

  py::array_t<float> run(const py::handle& x_in, what w) const {
    const f32_array x = as_f32(x_in, "x");
    const std::vector<std::size_t> shape = shape_of(x);
    const std::size_t B = batch(shape);
    const std::span<const float> in(x.data(), static_cast<std::size_t>(x.size()));
    std::vector<float> result, extra;
    {
      py::gil_scoped_release free;
      if (w == what::output)
        result = layer_->forward(in, B);
      else if (w == what::attention)
        result = layer_->attention(in, B);
      else
        (void)layer_->forward(in, B, nullptr, &result);
    }
    const std::size_t N = shape[1], H = layer_->heads();
    if (w == what::output) return to_numpy(std::move(result), shape);
    if (w == what::attention) return to_numpy(std::move(result), {B, H, N, N});
    return to_numpy(std::move(result), {H});
  }

  std::size_t heads() const { return layer_->heads(); }
  std::size_t dim() const { return layer_->dim(); }
  std::optional<std::pair<std::size_t, std::size_t>> grid() const {
    const auto g = layer_->patch_grid();
    if (!g) return std::nullopt;
    return std::pair{g->rows, g->cols};
  }
  bool qkv_bias() const { return layer_->has_qkv_bias(); }
  std::optional<std::size_t> threads() const {
    if (!pool_) return std::nullopt;
    return pool_->workers();
  }

 private:
  std::unique_ptr<gpsa::thread_pool_executor> pool_;
  std::unique_ptr<gpsa::layer> layer_;
};

// ---- functions --------------------------------------------------------------------------------

// bytes first: pybind11's path caster would take bytes as a file name.
py::array_t<float> preprocess(const std::variant<py::bytes, std::filesystem::path>& source,
                              long long size) {
  if (size < 1 || static_cast<unsigned long long>(size) > gpsa::image::max_size)
    throw py::value_error("size=" + std::to_string(size) + ": expected an integer from 1 to " +
                          std::to_string(gpsa::image::max_size) + " (the output is S x S)");
  const auto S = static_cast<std::size_t>(size);
  gpsa::io::tensor x;
  if (const auto* path = std::get_if<std::filesystem::path>(&source)) {
    py::gil_scoped_release free;
    x = gpsa::image::preprocess_file(*path, S);
  } else {
    const std::string_view bytes = std::get<py::bytes>(source);
    py::gil_scoped_release free;
    const std::span<const std::uint8_t> view(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                             bytes.size());
    x = gpsa::image::preprocess(gpsa::image::decode(view, "image bytes"), S, "image bytes");
  }
  return to_numpy(std::move(x.data), x.shape);
}

py::array_t<float> rel_indices(const grid_arg& g_in) {
  const gpsa::grid g = to_grid(g_in, "grid");
  const std::size_t N = g.patches();
  gpsa::io::byte_budget budget("grid " + grid_text(g));
  budget.add("table (N,N,3) float32", {N, N, 3}, sizeof(float));
  if (!budget.ok()) throw py::value_error(budget.message());
  std::vector<float> t(N * N * 3);
  const gpsa::status s = gpsa::fill_rel_indices<float>(g, t);
  if (s != gpsa::status::ok)
    throw py::value_error("grid " + grid_text(g) + ": " + gpsa::status_message(s));
  return to_numpy(std::move(t), {N, N, 3});
}

py::list fold(const std::filesystem::path& path, std::optional<grid_arg> grid_in) {
  std::vector<gpsa::checkpoint_fold> layers;
  {
    std::optional<gpsa::grid> g;
    if (grid_in) g = to_grid(*grid_in, "grid");
    py::gil_scoped_release free;
    const gpsa::io::safetensors_file file = gpsa::io::read_safetensors(path);
    layers = gpsa::fold_checkpoint(file, gpsa::checkpoint_grid(file, g));
  }
  py::list out;
  for (gpsa::checkpoint_fold& l : layers) {
    const std::size_t H = l.state.heads(), R = l.state.shape().rows, C = l.state.shape().cols;
    const auto copy = [](std::span<const float> s) {
      return std::vector<float>(s.begin(), s.end());
    };
    py::dict d;
    d["prefix"] = l.prefix;
    d["grid"] = std::pair{R, C};
    d["fx"] = to_numpy(copy(l.state.fx()), {H, C, C});
    d["gy"] = to_numpy(copy(l.state.gy()), {H, R, R});
    d["lambda"] = to_numpy(copy(l.state.lambda()), {H});
    out.append(std::move(d));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(gpsa, m) {
  m.doc() =
      "gpsa: ConViT's gated positional self-attention and the whole ConViT (timm checkpoints in "
      "safetensors), with NumPy arrays in and out.\n\n"
      "  model = gpsa.ConViT('convit_tiny.safetensors', threads=2)\n"
      "  x = gpsa.preprocess('cat.jpg', size=model.image_size)   # (1, 3, S, S) float32\n"
      "  logits = model(x)                                         # (1, classes)\n\n"
      "Inputs: C-contiguous float32 arrays are used in place, anything else is converted once "
      "(numpy.ascontiguousarray(x, dtype=numpy.float32)). The GIL is released while gpsa "
      "computes. Errors are gpsa.Error subclasses carrying gpsa's one-line messages. "
      "Documentation: docs/python.md of the gpsa repository.";
  m.attr("__version__") = GPSA_VERSION_STRING;

  // Exceptions: gpsa.Error and its subclasses, each carrying gpsa's message.
  static py::exception<std::runtime_error> error(m, "Error", PyExc_RuntimeError);
  error.doc() =
      "Base of every error gpsa reports (a one-line message naming the file, key or value).";
  static py::exception<gpsa::io::io_error> file_error(m, "FileError", error.ptr());
  file_error.doc() =
      "A file gpsa cannot read: missing, not a safetensors / PNG / JPEG file, truncated, over a "
      "size limit.";
  static py::exception<gpsa::checkpoint_error> checkpoint_error(m, "CheckpointError", error.ptr());
  checkpoint_error.doc() =
      "A checkpoint that does not fit the model: a missing key, a wrong shape, inconsistent "
      "blocks, NaN/Inf where it cannot be used.";
  static py::exception<gpsa::model_error> input_error(m, "InputError", error.ptr());
  input_error.doc() = "An input that does not fit the model or layer (shape, size).";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const gpsa::checkpoint_error& e) {
      PyErr_SetString(checkpoint_error.ptr(), e.what());
    } catch (const gpsa::io::io_error& e) {
      PyErr_SetString(file_error.ptr(), e.what());
    } catch (const gpsa::model_error& e) {
      PyErr_SetString(input_error.ptr(), e.what());
    } catch (const gpsa::layer_error& e) {
      PyErr_SetString(input_error.ptr(), e.what());
    }
  });

  py::class_<py_convit>(m, "ConViT", R"doc(A whole timm ConViT loaded from a safetensors checkpoint.

ConViT(path, threads=None, image_size=None, global_pool=None)

path: a safetensors file with timm's state_dict keys (F32, F16, BF16 or F64 tensors); the
configuration (image size, patch, width, heads, depth, classes) is inferred from its keys and
shapes. What the tensors cannot say comes from the file's safetensors metadata (img_size,
global_pool) or these arguments, which must agree with it: image_size is timm's img_size (needed
for use_pos_embed=False models, or a size that is not a multiple of the patch); global_pool is
'token' (timm's default) or 'avg'. threads: None (the default) starts no thread; N (1 to 256) gives the model a pool of N
workers (the calling thread and N - 1 started ones) that every forward splits its work over. The
results are bit-identical for every N, and identical to `gpsa classify`'s.

Raises gpsa.FileError (unreadable file) or gpsa.CheckpointError (not a ConViT checkpoint).
Calls may come from several Python threads at once (the GIL is released while computing).)doc")
      .def(py::init<const std::filesystem::path&, std::optional<long long>,
                    std::optional<long long>, std::optional<std::string>>(),
           py::arg("path"), py::arg("threads") = py::none(), py::arg("image_size") = py::none(),
           py::arg("global_pool") = py::none())
      .def(
          "__call__",
          [](const py_convit& self, const py::handle& x) { return self.run(x, false).first; },
          py::arg("x"),
          R"doc(Logits (B, classes) float32 of x, preprocessed images (B, 3, S, S).

x: any array-like; a C-contiguous float32 array is used in place, anything else is converted
once. Raises gpsa.InputError when the shape does not fit the model (its message says which
size the model takes).)doc")
      .def(
          "features",
          [](const py_convit& self, const py::handle& x) { return *self.run(x, true).second; },
          py::arg("x"),
          R"doc(Features (B, T, D) float32 after the final norm (T = N + 1, the class token first;
T = N for a model without MHSA blocks). x as for __call__.)doc")
      .def(
          "forward",
          [](const py_convit& self, const py::handle& x) {
            auto r = self.run(x, true);
            return py::make_tuple(std::move(r.first), std::move(*r.second));
          },
          py::arg("x"), "(logits, features) of x in one forward (see __call__ and features).")
      .def_property_readonly(
          "image_size", [](const py_convit& self) { return self.config().image_size; },
          "S: the model takes (B, 3, S, S) images.")
      .def_property_readonly(
          "patch_size", [](const py_convit& self) { return self.config().patch_size; },
          "p: patch side.")
      .def_property_readonly(
          "channels", [](const py_convit& self) { return self.config().channels; },
          "image channels.")
      .def_property_readonly(
          "dim", [](const py_convit& self) { return self.config().dim; }, "D: model width.")
      .def_property_readonly(
          "heads", [](const py_convit& self) { return self.config().heads; }, "H: attention heads.")
      .def_property_readonly(
          "depth", [](const py_convit& self) { return self.config().depth; }, "number of blocks.")
      .def_property_readonly(
          "local_up_to_layer",
          [](const py_convit& self) { return self.config().local_up_to_layer; },
          "blocks [0, L) are GPSA, the rest MHSA.")
      .def_property_readonly(
          "classes", [](const py_convit& self) { return self.config().classes; },
          "rows of head.weight.")
      .def_property_readonly(
          "tokens", [](const py_convit& self) { return self.config().tokens(); },
          "T: tokens of features() (N + 1 with the class token).")
      .def_property_readonly("qkv_bias", &py_convit::qkv_bias, "whether q/k/v have biases.")
      .def_property_readonly(
          "global_pool",
          [](const py_convit& self) {
            return std::string(gpsa::convit_pool_name(self.config().pool));
          },
          "'token' (the head reads the class token) or 'avg' (the mean of tokens 1..).")
      .def_property_readonly(
          "use_pos_embed", [](const py_convit& self) { return self.config().use_pos_embed; },
          "whether the checkpoint has pos_embed (timm's use_pos_embed).")
      .def_property_readonly("parameter_count", &py_convit::parameter_count,
                             "floats of weights held.")
      .def_property_readonly("threads", &py_convit::threads,
                             "workers of the model's own pool, or None (no thread).")
      .def_property_readonly("path", &py_convit::path, "the checkpoint it was loaded from.")
      .def("__repr__", &py_convit::repr);

  py::class_<py_layer>(m, "Layer",
                       R"doc(One GPSA layer (timm's GPSA module) from a safetensors checkpoint.

Layer(path, prefix='blocks.0.attn', grid=None, threads=None)

prefix: the layer's key prefix (qk.weight, v.weight, proj.*, pos_proj.*, gating_param under it).
grid: S or (R, C) fixes the patch grid and folds the positional branch once; None takes the
square grid of each input's N. threads: as for ConViT (bit-identical results for every N).)doc")
      .def(py::init<const std::filesystem::path&, const std::string&, std::optional<grid_arg>,
                    std::optional<long long>>(),
           py::arg("path"), py::arg("prefix") = std::string(gpsa::layer::default_prefix),
           py::arg("grid") = py::none(), py::arg("threads") = py::none())
      .def(
          "__call__",
          [](const py_layer& l, const py::handle& x) { return l.run(x, py_layer::what::output); },
          py::arg("x"), "y (B, N, D) float32 = GPSA.forward(x) for x (B, N, D).")
      .def(
          "attention",
          [](const py_layer& l, const py::handle& x) {
            return l.run(x, py_layer::what::attention);
          },
          py::arg("x"), "The gated attention (B, H, N, N) float32 (GPSA.get_attention).")
      .def(
          "nonlocality",
          [](const py_layer& l, const py::handle& x) {
            return l.run(x, py_layer::what::nonlocality);
          },
          py::arg("x"),
          "Mean attention distance per head (H,) in patches, averaged over the batch "
          "(GPSA.get_attention_map's distance).")
      .def_property_readonly("heads", &py_layer::heads, "H.")
      .def_property_readonly("dim", &py_layer::dim, "D.")
      .def_property_readonly("grid", &py_layer::grid, "(R, C) fixed at construction, or None.")
      .def_property_readonly("qkv_bias", &py_layer::qkv_bias, "whether qk/v have biases.")
      .def_property_readonly("threads", &py_layer::threads,
                             "workers of the layer's pool, or None.");

  m.def("preprocess", &preprocess, py::arg("source"), py::arg("size") = 224,
        R"doc(timm's evaluation transform of a PNG or JPEG image: (1, 3, S, S) float32.

source: a path (str or os.PathLike) or the file's bytes. size: S (1 to 4096). Decoding as PIL's
convert('RGB'), bicubic resize of the shorter side to int(S / 0.875) as PIL, centre crop,
ImageNet mean/std: the same bits as `gpsa preprocess --size S`. Raises gpsa.FileError for an
unreadable or corrupt image.)doc");
  m.def("rel_indices", &rel_indices, py::arg("grid"),
        R"doc(The relative-index table (N, N, 3) float32 of grid S (S x S) or (R, C): for query
patch p and key patch q, (dx, dy, dx^2 + dy^2), timm's GPSA.get_rel_indices.)doc");
  m.def("fold", &fold, py::arg("path"), py::arg("grid") = py::none(),
        R"doc(The folded positional branch of every GPSA layer of a checkpoint.

Returns a list, in layer order, of dicts {'prefix', 'grid': (R, C), 'fx': (H, C, C),
'gy': (H, R, R), 'lambda': (H,)} (float32): softmax(P_h) = gy[h][yp, yq] * fx[h][xp, xq] and
lambda = sigmoid(gating_param). grid: S or (R, C); None takes it from the checkpoint's pos_embed
(a whole ConViT); a grid that contradicts pos_embed is a gpsa.CheckpointError.)doc");
}
