// SPDX-License-Identifier: MIT
// All-or-nothing output files: every output of a command is staged in a temporary file beside
// its target, and the targets are replaced only when all of them are complete.
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "gpsa/runtime/io.hpp"
#include "gpsa/runtime/output_set.hpp"
#include "io_detail.hpp"

namespace gpsa::io {
namespace fs = std::filesystem;

namespace {

// Who a path is, to tell whether two spellings name one file. A file that exists is its device
// and inode (so a symlink or a hard link to it is the same file); one that does not exist yet is
// the folder it will be created in (the device and inode of the parent the kernel resolves, so
// "y.npy", "./y.npy", "$PWD/y.npy", "sub/../y.npy" and a symlinked folder all agree) plus its
// final name. The normalised absolute path is the last resort when the parent cannot be stat'ed.
struct identity {
  std::string norm;
  std::string leaf;
  bool parent_known = false;
  dev_t parent_dev = 0;
  ino_t parent_ino = 0;
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
};

identity identify(const fs::path& p) {
  identity id;
  std::error_code ec;
  id.norm = fs::absolute(p, ec).lexically_normal().string();
  id.leaf = p.filename().string();
  fs::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (id.leaf != "." && id.leaf != ".." && !id.leaf.empty() && ::stat(dir.c_str(), &st) == 0 &&
      S_ISDIR(st.st_mode))
    id.parent_known = true, id.parent_dev = st.st_dev, id.parent_ino = st.st_ino;
  if (::stat(p.c_str(), &st) == 0) id.exists = true, id.dev = st.st_dev, id.ino = st.st_ino;
  return id;
}

bool same_file(const identity& a, const identity& b) {
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  if (a.parent_known && b.parent_known)
    return a.parent_dev == b.parent_dev && a.parent_ino == b.parent_ino && a.leaf == b.leaf;
  return a.norm == b.norm;
}

// "-o 'out/y.npy'" or, without a flag, "'out/y.npy'".
std::string named(const std::string& flag, const fs::path& p) {
  std::string q = flag;  // built with append: GCC 12 mis-warns (-Wrestrict) on "'" + str
  if (!q.empty()) q += ' ';
  return q.append(1, '\'').append(display_path(p)).append(1, '\'');
}

// Six characters for a unique file name; uniqueness is enforced by O_EXCL / link(), this only
// has to make collisions rare (pid, time and a counter, mixed).
std::string random_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::uint64_t x = counter.fetch_add(1, std::memory_order_relaxed) * 0x9e3779b97f4a7c15ull;
  x ^= (static_cast<std::uint64_t>(::getpid()) << 40) ^ static_cast<std::uint64_t>(ts.tv_nsec) ^
       (static_cast<std::uint64_t>(ts.tv_sec) << 20);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;  // splitmix64 finaliser
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(6, 'X');
  for (char& c : s) {
    c = alphabet[x % 62];
    x /= 62;
  }
  return s;
}

// ".NAME.tmp.XXXXXX" in the target's folder (absolute). NAME is cut so the whole leaf stays
// within the 255 bytes a file name may have (a 250-byte output name is valid; its temporary must
// be too): uniqueness comes from O_EXCL / link(), not from the name.
fs::path sibling(const fs::path& target, const char* what) {
  constexpr std::size_t max_leaf = 255;  // NAME_MAX of Linux file systems
  std::string name = target.filename().string();
  const std::size_t extra = 1 + std::strlen(what) + 6;
  if (name.size() + extra > max_leaf) name.resize(max_leaf - extra);
  std::string leaf(1, '.');  // built with append: GCC 12 -O3 mis-warns (-Wrestrict) on "." + str
  leaf.append(name).append(what).append(random_suffix());
  return target.parent_path() / leaf;
}

[[noreturn]] void fail_errno(const std::string& shown, const char* what, int err) {
  throw io_error(shown + ": " + what + ": " + std::strerror(err));
}

}  // namespace

// ---- output_file -------------------------------------------------------------------------------

output_file::~output_file() {
  if (fd_ >= 0 && !stream_) ::close(fd_);
}

void output_file::write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

void output_file::write(const void* data, std::size_t size) {
  const std::string shown = stream_ ? std::string("stdout") : display_path(path_);
  if (fd_ < 0) throw io_error(shown + ": write after the output was committed or discarded");
  if (failed_) throw io_error(shown + ": write after a failed write");
  if (size > max_output_bytes - std::min(size_, max_output_bytes)) {
    failed_ = true;
    throw io_error(shown + ": output is over the " + bytes_text(max_output_bytes) +
                   " limit for one file");
  }
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      fail_errno(shown, "write failed", errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  size_ += size;
}

// ---- output_set --------------------------------------------------------------------------------

struct output_set::impl {
  struct input {
    fs::path path;
    std::string flag;
    identity id;
  };
  std::vector<input> inputs;
  std::vector<std::unique_ptr<output_file>> outputs;
  std::vector<identity> output_ids;
  std::atomic<int> phase{detail::phase_staging};
  bool committed = false;

  void check_not_input(const output_file& o, const identity& oid, const input& in) const {
    if (same_file(oid, in.id))
      throw io_error(named(o.flag_, o.path_) + " is the input " + named(in.flag, in.path) +
                     "; refusing to overwrite an input file");
  }
};

output_set::output_set() : impl_(std::make_unique<impl>()) {}

output_set::~output_set() { discard(); }

std::size_t output_set::size() const noexcept { return impl_->outputs.size(); }

bool output_set::committed() const noexcept { return impl_->committed; }

void output_set::add_input(const fs::path& path, std::string_view flag) {
  impl::input in{path, std::string(flag), identify(path)};
  for (std::size_t i = 0; i < impl_->outputs.size(); ++i)
    if (!impl_->outputs[i]->stream_)
      impl_->check_not_input(*impl_->outputs[i], impl_->output_ids[i], in);
  impl_->inputs.push_back(std::move(in));
}

output_file& output_set::add(const fs::path& path, std::string_view flag) {
  if (impl_->committed) throw io_error(display_path(path) + ": output set already committed");
  const std::string shown = display_path(path);
  if (path.empty())
    throw io_error(shown + ": no output file name given" +
                   (flag.empty() ? std::string() : " for " + std::string(flag)));
  const fs::path leaf = path.filename();
  if (leaf.empty() || leaf == "." || leaf == "..")
    throw io_error(shown + ": is a folder, expected a file name");
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    throw io_error(shown + ": output folder '" + display_path(dir) +
                   (err == ENOENT    ? "' does not exist"
                    : err == ENOTDIR ? "' is not a folder"
                                     : "' cannot be used: " + std::string(std::strerror(err))));
  }
  if (!S_ISDIR(st.st_mode))
    throw io_error(shown + ": output folder '" + display_path(dir) + "' is not a folder");
  const struct stat dir_st = st;
  mode_t keep_mode = 0;
  bool exists = false;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw io_error(shown + ": is a folder, expected a file name");
    // The rename replaces whatever is there: as root that could be /dev/null or a FIFO.
    if (!S_ISREG(st.st_mode))
      throw io_error(shown +
                     ": exists and is not a regular file (device, FIFO or socket); gpsa "
                     "replaces only regular files");
    exists = true;
    keep_mode = st.st_mode & 0777;
    // In a sticky folder (like /tmp) only the file's owner, the folder's owner or root may
    // rename over it or remove it: the final rename would fail after all the work, and the old
    // file's backup link could not be removed. Refused now, before anything is computed.
    struct stat lst {};
    const uid_t me = ::geteuid();
    if ((dir_st.st_mode & S_ISVTX) != 0 && me != 0 && me != dir_st.st_uid &&
        ::lstat(path.c_str(), &lst) == 0 && me != lst.st_uid)
      throw io_error(shown + ": cannot replace it: the folder '" + display_path(dir) +
                     "' is sticky (like /tmp) and the file belongs to another user (uid " +
                     std::to_string(lst.st_uid) +
                     "), so only its owner may replace it; choose another name");
  }

  auto o = std::unique_ptr<output_file>(new output_file());
  o->path_ = path;
  o->flag_ = std::string(flag);
  std::error_code ec;
  o->target_ = fs::absolute(path, ec);
  if (ec) fail_errno(shown, "cannot write", ec.value());
  const identity oid = identify(path);
  for (std::size_t i = 0; i < impl_->outputs.size(); ++i) {
    const output_file& other = *impl_->outputs[i];
    if (!other.stream_ && same_file(oid, impl_->output_ids[i])) {
      if (!other.flag_.empty() && !o->flag_.empty())
        throw io_error(other.flag_ + " and " + o->flag_ + " name the same file '" + shown + "'");
      throw io_error("outputs " + named(other.flag_, other.path_) + " and " +
                     named(o->flag_, path) + " are the same file");
    }
  }
  for (const auto& in : impl_->inputs) impl_->check_not_input(*o, oid, in);

  // The temporary is registered before it exists, so a signal in between cannot leave it.
  for (int attempt = 0;; ++attempt) {
    o->temp_ = sibling(o->target_, ".tmp.");
    o->temp_slot_ = detail::stage_path(detail::staged_kind::temp, o->temp_.string(), {}, nullptr);
    if (o->temp_slot_ < 0)
      throw io_error(shown + ": cannot write: more than " + std::to_string(max_pending_outputs) +
                     " outputs staged at once, or the path is too long");
    // 0666: the kernel applies the umask (or the folder's default ACL) as for any new file.
    o->fd_ = ::open(o->temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
    if (o->fd_ >= 0) break;
    const int err = errno;
    detail::unstage(o->temp_slot_);
    o->temp_slot_ = -1;
    if (err != EEXIST || attempt >= 100) fail_errno(shown, "cannot write", err);
  }
  if (exists && ::fchmod(o->fd_, keep_mode) != 0) {
    const int err = errno;
    ::close(o->fd_);
    o->fd_ = -1;
    detail::undo_slot(o->temp_slot_);
    fail_errno(shown, "cannot set permissions", err);
  }
  impl_->outputs.push_back(std::move(o));
  impl_->output_ids.push_back(oid);
  return *impl_->outputs.back();
}

output_file& output_set::add_stdout(std::string_view flag) {
  if (impl_->committed) throw io_error("stdout: output set already committed");
  for (const auto& other : impl_->outputs)
    if (other->stream_)
      throw io_error((other->flag_.empty() ? std::string("an output") : other->flag_) + " and " +
                     (flag.empty() ? std::string("another output") : std::string(flag)) +
                     " both name the standard output '-'");
  auto o = std::unique_ptr<output_file>(new output_file());
  o->stream_ = true;
  o->path_ = "-";
  o->flag_ = std::string(flag);
  o->fd_ = STDOUT_FILENO;
  impl_->outputs.push_back(std::move(o));
  impl_->output_ids.push_back(identity{});  // never compared: stream outputs are skipped
  return *impl_->outputs.back();
}

void output_set::discard() noexcept {
  for (auto& o : impl_->outputs) {
    if (o->stream_) {
      o->fd_ = -1;  // stdout stays open
      continue;
    }
    if (o->fd_ >= 0) ::close(o->fd_);
    o->fd_ = -1;
    detail::undo_slot(o->temp_slot_);
    o->temp_slot_ = -1;
  }
}

void output_set::commit() {
  impl& s = *impl_;
  if (s.committed) throw io_error("output set already committed");
  for (const auto& o : s.outputs)
    if (o->failed_ || o->fd_ < 0)
      throw io_error(display_path(o->path_) + ": not written completely; no output was replaced");

  // The step that must not be pending when the old file is replaced: a full disk or quota is
  // often reported only by fsync or close.
  for (auto& o : s.outputs) {
    if (o->stream_) continue;  // written as it came; nothing to flush or rename
    const std::string shown = display_path(o->path_);
    if (::fsync(o->fd_) != 0 && errno != EINVAL && errno != EROFS) {
      const int err = errno;
      discard();
      fail_errno(shown, "write failed", err);
    }
    const int rc = ::close(o->fd_);
    o->fd_ = -1;
    if (rc != 0 && errno != EINTR) {
      const int err = errno;
      discard();
      fail_errno(shown, "close failed", err);
    }
  }

  // Keep every old target as a hard link until all renames are done, so a failure (or a
  // signal) half-way can put it back.
  struct step {
    output_file* o;
    int aux_slot = -1;
    bool restorable = true;
  };
  std::vector<step> steps;
  const auto undo_all = [&] {
    for (auto& st : steps) detail::undo_slot(st.aux_slot);
    discard();
  };
  try {
    for (auto& o : s.outputs) {
      if (o->stream_) continue;
      step st{o.get()};
      const std::string target = o->target_.string();
      struct stat lst {};
      if (::lstat(target.c_str(), &lst) == 0) {
        for (int attempt = 0;; ++attempt) {
          const std::string backup = sibling(o->target_, ".old.").string();
          st.aux_slot = detail::stage_path(detail::staged_kind::backup, backup, target, &s.phase);
          if (st.aux_slot < 0) {
            st.restorable = false;
            break;
          }
          if (::link(target.c_str(), backup.c_str()) == 0) break;
          const int err = errno;
          detail::unstage(st.aux_slot);
          st.aux_slot = -1;
          if (err != EEXIST || attempt >= 100) {
            st.restorable = false;  // e.g. FAT has no hard links: rename this one last
            break;
          }
        }
      } else {
        st.aux_slot = detail::stage_path(detail::staged_kind::created, target, target, &s.phase);
        st.restorable = st.aux_slot >= 0;
      }
      steps.push_back(st);
    }
  } catch (...) {
    undo_all();
    throw;
  }
  std::stable_partition(steps.begin(), steps.end(), [](const step& a) { return a.restorable; });

  s.phase.store(detail::phase_renaming, std::memory_order_seq_cst);
  for (std::size_t k = 0; k < steps.size(); ++k) {
    output_file& o = *steps[k].o;
    if (::rename(o.temp_.c_str(), o.target_.c_str()) == 0) continue;
    const int err = errno;
    std::string lost;
    for (std::size_t j = 0; j < k; ++j)
      if (!steps[j].restorable)
        lost.append(1, ' ').append(named(steps[j].o->flag_, steps[j].o->path_));
    undo_all();
    s.phase.store(detail::phase_staging);
    throw io_error(display_path(o.path_) + ": cannot rename into place: " + std::strerror(err) +
                   (lost.empty()
                        ? "; no output was replaced"
                        : "; already replaced (no hard links to keep the old file):" + lost));
  }
  s.phase.store(detail::phase_committed, std::memory_order_seq_cst);
  for (auto& st : steps) detail::undo_slot(st.aux_slot);  // removes the backups
  for (auto& o : s.outputs) {
    if (o->stream_) o->fd_ = -1;  // no more writes; stdout stays open
    detail::unstage(o->temp_slot_);
    o->temp_slot_ = -1;
  }
  s.committed = true;
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  output_set set;
  set.add(path).write(bytes);
  set.commit();
}

}  // namespace gpsa::io
