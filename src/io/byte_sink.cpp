#include "mnemo/io/byte_sink.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <climits>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "io/iovec_advance.h"
#include "mnemo/core/error.h"

namespace mnemo::io {

namespace {

// A durable write starts the disk writing every this many bytes, so that by the time
// commit() flushes the file most of it is already on its way (sync_file_range). What
// commit() still waits for is the last slice: 8 MiB saved 5 to 10% of a durable save of
// 80 to 300 MB against 32 MiB.
constexpr std::uint64_t kWritebackChunk = std::uint64_t{8} << 20;

// The longest file name most Linux filesystems accept (NAME_MAX).
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::string_view kTempInfix = ".tmp-";
constexpr std::string_view kTempPattern = "XXXXXX";

// The OS reason for `err`, led by what it means for someone saving a file.
std::string reason(int err) {
  const std::string os = std::strerror(err);
  switch (err) {
    case ENOSPC:
      return "no space left on device (" + os + "); free some space or save elsewhere";
    case EDQUOT:
      return "disk quota exceeded (" + os + "); free some space or save elsewhere";
    case EFBIG:
      return "file size limit exceeded (" + os +
             "); raise the limit (ulimit -f) or use a filesystem that allows larger files";
    case EACCES:
    case EPERM:
    case EROFS:
      return "directory is not writable (" + os +
             "); save elsewhere or change the directory's permissions";
    default:
      return os;
  }
}

// The process's umask, read without changing it: umask(2) can only be read by setting
// it, which races with other threads creating files. Falls back to the common 022.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) {
      return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8) & 0777);
    }
  }
  return 022;
}

// Blocks SIGXFSZ in the calling thread for the lifetime of the guard.
//
// A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the whole
// process, so a save that merely hits the limit would take the program down instead of
// throwing. With the signal blocked the write fails with EFBIG, which we report. The
// kernel still queues the signal, so before the old mask comes back the guard takes the
// one it raised off the queue; otherwise it would be delivered — and kill — right there.
// When the caller already blocked SIGXFSZ we leave its pending signals alone.
class SigxfszBlock {
 public:
  SigxfszBlock() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &block, &previous_);
  }
  ~SigxfszBlock() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  SigxfszBlock(const SigxfszBlock&) = delete;
  SigxfszBlock& operator=(const SigxfszBlock&) = delete;

  // Call after a write failed with EFBIG.
  void discard_raised_signal() const {
    if (sigismember(&previous_, SIGXFSZ) == 1) return;
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGXFSZ);
    const timespec no_wait{0, 0};
    while (sigtimedwait(&only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }

 private:
  sigset_t previous_;
};

}  // namespace

void MemorySink::write(std::span<const ConstBytes> pieces) {
  std::size_t total = 0;
  for (const ConstBytes& piece : pieces) {
    if (piece.size() > bytes_.max_size() - bytes_.size() - total) {
      fail(ErrorCode::kLimit, "in-memory sink cannot grow past ", bytes_.max_size(), " bytes");
    }
    total += piece.size();
  }
  // Grow geometrically: reserving exactly what each write needs would copy the whole
  // buffer on every write.
  if (bytes_.capacity() - bytes_.size() < total) {
    bytes_.reserve(std::max(bytes_.size() + total, 2 * bytes_.capacity()));
  }
  for (const ConstBytes& piece : pieces) bytes_.insert(bytes_.end(), piece.begin(), piece.end());
}

void MemorySink::reserve(std::uint64_t bytes) {
  if (bytes > bytes_.max_size() - bytes_.size()) return;  // the writes will say so
  try {
    bytes_.reserve(bytes_.size() + static_cast<std::size_t>(bytes));
  } catch (const std::bad_alloc&) {  // a hint: the writes grow the buffer as they can
  }
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path, AtomicWriteOptions options)
    : path_(std::move(path)), options_(options) {
  std::string name = path_.filename().string();
  if (name.empty() || name == "." || name == "..") {
    fail(ErrorCode::kInvalidArgument, "cannot write '", path_.string(),
         "': the path names a directory, not a file");
  }
  // ".<name>.tmp-XXXXXX" must itself be a valid name: shorten <name> when it is long.
  const std::size_t fixed = 1 + kTempInfix.size() + kTempPattern.size();
  if (name.size() > kMaxNameBytes - fixed) name.resize(kMaxNameBytes - fixed);
  const std::filesystem::path directory =
      path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::string pattern =
      (directory / ("." + name + std::string(kTempInfix) + std::string(kTempPattern))).string();

  fd_ = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    fail(ErrorCode::kIo, "cannot create a temporary file in '", directory.string(), "' to write '",
         path_.string(), "': ", reason(err));
  }
  temp_path_ = pattern;
  // mkstemp creates the file 0600; a saved file should get the permissions any newly
  // created file gets (0666 less the umask), as torch.save's open() would give it.
  if (::fchmod(fd_, 0666 & ~current_umask()) != 0) {
    const int err = errno;
    discard();
    fail(ErrorCode::kIo, "cannot set the permissions of '", temp_path_.string(),
         "': ", reason(err));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

void AtomicFileWriter::write(std::span<const ConstBytes> pieces) {
  MNEMO_CHECK(!committed_, "write to '", path_.string(), "' after commit()");
  MNEMO_CHECK(fd_ >= 0, "write to '", path_.string(), "' after an earlier write failed");

  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (const ConstBytes& piece : pieces) {
    if (!piece.empty()) {
      iov.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
    }
  }
  std::size_t next = 0;  // first iovec not yet fully written
  while (next < iov.size()) {
    int count = static_cast<int>(std::min<std::size_t>(iov.size() - next, IOV_MAX));
    // A durable write goes out in slices of kWritebackChunk, so that the disk starts on
    // each while the next is copied (see sync_file_range below).
    iovec first = iov[next];
    if (options_.fsync) {
      std::uint64_t bytes = 0;
      int fitting = 0;
      while (fitting < count && bytes + iov[next + fitting].iov_len <= kWritebackChunk) {
        bytes += iov[next + fitting].iov_len;
        ++fitting;
      }
      if (fitting == 0) {
        first.iov_len = kWritebackChunk;  // one large piece: its first slice
        count = 1;
      } else {
        count = fitting;
      }
    }
    ssize_t written;
    int err = 0;
    {
      SigxfszBlock guard;
      written = count == 1 ? ::writev(fd_, &first, 1) : ::writev(fd_, iov.data() + next, count);
      if (written < 0) {
        err = errno;
        if (err == EFBIG) guard.discard_raised_signal();
      }
    }
    if (written < 0 && err == EINTR) continue;
    if (written <= 0) {
      // A regular file never accepts 0 bytes of a non-empty write; treat it as an error
      // rather than spin.
      if (written == 0) err = EIO;
      const std::uint64_t done = position_;
      // Remove the partial file now, so that the space it holds (the usual reason for
      // the failure) is freed at once; the writer stays unusable.
      discard();
      fail(ErrorCode::kIo, "cannot write '", path_.string(), "' (", done,
           " bytes written so far): ", reason(err));
    }
    const std::uint64_t before = position_;
    position_ += static_cast<std::uint64_t>(written);
    if (options_.fsync && before / kWritebackChunk != position_ / kWritebackChunk) {
      // Start writing what is dirty so far; it does not wait for the disk. Only a hint:
      // commit()'s fsync is what makes the file durable, and reports any error.
      (void)::sync_file_range(fd_, 0, static_cast<off_t>(position_), SYNC_FILE_RANGE_WRITE);
    }
    next = advance_iovecs(iov, next, static_cast<std::size_t>(written));
  }
}

void AtomicFileWriter::reserve(std::uint64_t bytes) {
  if (committed_ || fd_ < 0 || bytes == 0 ||
      bytes > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) - position_) {
    return;
  }
  // Unsupported (tmpfs before 3.5, some network filesystems) or refused (no space): the
  // writes allocate as they go, and report what is wrong themselves.
  (void)::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(position_),
                    static_cast<off_t>(bytes));
}

void AtomicFileWriter::commit() {
  MNEMO_CHECK(!committed_, "commit() of '", path_.string(), "' called twice");
  MNEMO_CHECK(fd_ >= 0, "commit() of '", path_.string(), "' after an earlier write failed");

  if (options_.fsync) {
    int rc;
    do {
      rc = ::fsync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      discard();
      fail(ErrorCode::kIo, "cannot flush '", path_.string(), "' to disk: ", reason(err));
    }
  }
  // close() can report a deferred write error (NFS, some FUSE filesystems).
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 && errno != EINTR) {
    const int err = errno;
    discard();
    fail(ErrorCode::kIo, "cannot write '", path_.string(), "': ", reason(err));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    const std::string temp = temp_path_.string();
    discard();
    fail(ErrorCode::kIo, "cannot rename '", temp, "' to '", path_.string(), "': ", reason(err));
  }
  committed_ = true;
  temp_path_.clear();

  if (options_.fsync) {
    // The rename is durable only once the directory is flushed. A directory we may
    // write but not open for reading (mode -wx) cannot be flushed by us: the file is in
    // place regardless, so that case is not an error.
    const std::filesystem::path directory =
        path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      const int err = errno;
      if (err == EACCES) return;
      fail(ErrorCode::kIo, "wrote '", path_.string(), "' but cannot open its directory '",
           directory.string(), "' to flush it: ", reason(err));
    }
    int rc;
    do {
      rc = ::fsync(dir_fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    ::close(dir_fd);
    // Some filesystems cannot flush a directory at all (EINVAL): nothing more to do.
    if (rc != 0 && err != EINVAL) {
      fail(ErrorCode::kIo, "wrote '", path_.string(), "' but cannot flush its directory '",
           directory.string(), "': ", reason(err), "; the file may not survive a power loss");
    }
  }
}

}  // namespace mnemo::io
