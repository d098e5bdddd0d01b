// ByteSink: where writers (zip, safetensors) put their bytes, in order. Writes take
// several pieces at once so that tensor memory goes to the file without being staged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace mnemo::io {

using ConstBytes = std::span<const std::byte>;

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends the pieces in order. Throws kIo (naming the file and the OS reason: no
  // space left, file too large, ...) on failure; the sink is then unusable: further
  // writes throw kInvalidArgument.
  virtual void write(std::span<const ConstBytes> pieces) = 0;
  void write(ConstBytes bytes) { write(std::span<const ConstBytes>(&bytes, 1)); }
  // Bytes written so far.
  virtual std::uint64_t position() const = 0;
  // Says that `bytes` more will follow, so that room for them can be made at once: a
  // hint, which a sink may ignore and which never fails. Never more than will follow: a
  // file keeps the room reserved past its end.
  virtual void reserve(std::uint64_t bytes) { (void)bytes; }
};

// Collects the bytes in memory.
class MemorySink : public ByteSink {
 public:
  void write(std::span<const ConstBytes> pieces) override;
  using ByteSink::write;
  std::uint64_t position() const override { return bytes_.size(); }
  // Grows the buffer once, instead of by doubling as the writes come.
  void reserve(std::uint64_t bytes) override;
  const std::vector<std::byte>& bytes() const { return bytes_; }
  std::vector<std::byte> release() { return std::move(bytes_); }

 private:
  std::vector<std::byte> bytes_;
};

struct AtomicWriteOptions {
  // fsync the file before the rename and the directory after it. Without it the file is
  // still never seen half-written, but a power loss may lose it.
  bool fsync = true;
};

// Writes a new file so that `path` holds either its old content or the complete new
// one, never a mix: the bytes go to a temporary file in the same directory
// (".<name>.tmp-XXXXXX", created with the permissions a new file gets: 0666 less the
// umask), and commit() flushes it, renames it over `path` and flushes the directory.
// A failed write removes the temporary file at once (freeing the space it held);
// destroyed without commit(), the writer removes it too. Either way `path` keeps its old
// content, or stays absent, and no half-written file is left behind.
//
// Writes block SIGXFSZ in the calling thread while they run, so that exceeding the
// file size limit (RLIMIT_FSIZE) is an Error rather than the signal killing the process.
class AtomicFileWriter : public ByteSink {
 public:
  // Throws kIo naming the directory when the temporary file cannot be created (for a
  // read-only directory the message says "directory is not writable").
  explicit AtomicFileWriter(std::filesystem::path path, AtomicWriteOptions options = {});
  ~AtomicFileWriter() override;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(std::span<const ConstBytes> pieces) override;
  using ByteSink::write;
  std::uint64_t position() const override { return position_; }
  // Allocates the file's blocks at once (fallocate, keeping its size), where the
  // filesystem can: ext4 then takes each write about a third less time than when it
  // allocates blocks as the pages come.
  void reserve(std::uint64_t bytes) override;
  const std::filesystem::path& path() const { return path_; }
  // The temporary file; empty once it no longer exists (committed or discarded).
  const std::filesystem::path& temp_path() const { return temp_path_; }

  // Makes the file visible at `path`. Throws kIo on failure, leaving `path` untouched
  // (the one exception: the rename succeeded but the directory could not be flushed;
  // the message says so). Calling it twice, or after a failed write, is kInvalidArgument.
  void commit();

 private:
  // Closes and removes the temporary file. Never throws.
  void discard() noexcept;

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  AtomicWriteOptions options_;
  int fd_ = -1;
  std::uint64_t position_ = 0;
  bool committed_ = false;
};

}  // namespace mnemo::io
