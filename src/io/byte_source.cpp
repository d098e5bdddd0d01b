#include "mnemo/io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "mnemo/core/error.h"

namespace mnemo::io {

namespace {

// One pread asks for at most this much: Linux transfers at most 0x7ffff000 bytes per
// call anyway, and a bounded request keeps the byte count far from ssize_t's limit.
constexpr std::size_t kMaxReadChunk = std::size_t{1} << 30;

// The message every out-of-range read gives, whichever source it comes from.
[[noreturn]] void fail_out_of_range(const std::string& where, std::uint64_t offset,
                                    std::uint64_t length, std::uint64_t size,
                                    const char* note = "") {
  if (length > std::numeric_limits<std::uint64_t>::max() - offset) {
    fail(ErrorCode::kCorrupt, "read needs ", length, " bytes from offset ", offset, " but ", where,
         " has ", size, " bytes", note);
  }
  fail(ErrorCode::kCorrupt, "read needs bytes [", offset, ", ", offset + length, ") but ", where,
       " has ", size, " bytes", note);
}

}  // namespace

FileSource::FileSource(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    fail(ErrorCode::kIo, "cannot open '", path.string(), "' for reading: ", std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fail(ErrorCode::kIo, "cannot stat '", path.string(), "': ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fail(ErrorCode::kIo, "cannot read '", path.string(), "': not a regular file");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  if (!contains(offset, out.size())) fail_out_of_range(path_.string(), offset, out.size(), size_);
  std::byte* cursor = out.data();
  std::size_t remaining = out.size();
  std::uint64_t position = offset;
  while (remaining > 0) {
    const std::size_t request = std::min(remaining, kMaxReadChunk);
    const ssize_t got = ::pread(fd_, cursor, request, static_cast<off_t>(position));
    if (got < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail(ErrorCode::kIo, "cannot read '", path_.string(), "' at offset ", position, ": ",
           std::strerror(err));
    }
    if (got == 0) {
      // The file ended before the size it had when it was opened: something truncated
      // it since. Report its size now, so the message explains the short read.
      struct stat st {};
      const std::uint64_t now =
          ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : position;
      fail_out_of_range(path_.string(), offset, out.size(), now,
                        " (the file shrank after it was opened)");
    }
    cursor += got;
    remaining -= static_cast<std::size_t>(got);
    position += static_cast<std::uint64_t>(got);
  }
}

MemorySource MemorySource::view(std::span<const std::byte> bytes) {
  // No deleter: the caller owns the bytes. Read-only, since they were given as const.
  return MemorySource(Storage::from_foreign(const_cast<std::byte*>(bytes.data()), bytes.size(), {},
                                            Device::cpu(), /*writable=*/false));
}

void MemorySource::read_at(std::uint64_t offset, std::span<std::byte> out) const {
  if (!contains(offset, out.size())) fail_out_of_range(description_, offset, out.size(), size());
  if (!out.empty()) std::memcpy(out.data(), storage_.data() + offset, out.size());
}

}  // namespace mnemo::io
