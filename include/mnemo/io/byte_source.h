// ByteSource: random-access reads of bytes that come from a file or from memory, with
// every read checked against the source's size. Readers (zip, safetensors, legacy .pt)
// parse through it and never trust an offset or a size before asking it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "mnemo/core/storage.h"

namespace mnemo::io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  virtual std::uint64_t size() const = 0;
  // Fills `out` with the bytes at [offset, offset + out.size()). Throws kCorrupt ("read
  // needs bytes [a, b) but <describe()> has N bytes") when the range is not inside the
  // source, and kIo (naming the path and the OS reason) when the operating system
  // fails. Thread-safe.
  virtual void read_at(std::uint64_t offset, std::span<std::byte> out) const = 0;
  // The source's bytes as a Storage when they are already in memory (a buffer or a
  // mapping), so readers can hand out views instead of copies; undefined otherwise.
  virtual Storage storage() const { return {}; }
  // The file's path, or "<memory>", for messages.
  virtual std::string describe() const = 0;

  // True when [offset, offset + length) lies inside the source, computed without overflow.
  bool contains(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size() && length <= size() - offset;
  }
};

// A file read with pread. Reads are safe against the file changing underneath: a
// shrunk file gives kCorrupt, never a crash (unlike a mapping, which would SIGBUS).
// The size is taken once, when the file is opened.
class FileSource : public ByteSource {
 public:
  // Throws kIo naming the path when the file cannot be opened or is not a regular file.
  explicit FileSource(const std::filesystem::path& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  std::uint64_t size() const override { return size_; }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override;
  std::string describe() const override { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Bytes in memory: a Storage (owned, foreign or a file mapping).
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(Storage storage, std::string description = "<memory>")
      : storage_(std::move(storage)), description_(std::move(description)) {}
  // A read-only view of caller-owned bytes (no copy), which must outlive the source and
  // anything read from it, including storage().
  static MemorySource view(std::span<const std::byte> bytes);

  std::uint64_t size() const override { return storage_.nbytes(); }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override;
  Storage storage() const override { return storage_; }
  std::string describe() const override { return description_; }

 private:
  Storage storage_;
  std::string description_;
};

}  // namespace mnemo::io
