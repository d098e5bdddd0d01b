// Vectored I/O (preadv, writev) may move fewer bytes than asked; the caller then resumes
// from where it stopped. Private to the library.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <vector>

namespace mnemo::io {

// After a vectored call that started at iov[next] moved `bytes`: returns the index of the
// first iovec not yet complete, having trimmed the one completed in part.
inline std::size_t advance_iovecs(std::vector<iovec>& iov, std::size_t next, std::size_t bytes) {
  while (next < iov.size() && bytes >= iov[next].iov_len) {
    bytes -= iov[next].iov_len;
    ++next;
  }
  if (bytes > 0) {
    iov[next].iov_base = static_cast<std::byte*>(iov[next].iov_base) + bytes;
    iov[next].iov_len -= bytes;
  }
  return next;
}

}  // namespace mnemo::io
