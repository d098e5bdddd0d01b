// Which pages of memory the kernel has backed: how tests see that memory was faulted in
// ahead of a copy (io::prefault_for_write) without timing anything.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace mnemo::testing {

inline std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// The whole pages inside `bytes`, as [begin, end) addresses.
inline std::pair<std::uintptr_t, std::uintptr_t> whole_pages(std::span<const std::byte> bytes) {
  const std::uintptr_t page = page_size();
  const auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
  const std::uintptr_t begin = (address + page - 1) / page * page;
  const std::uintptr_t end = (address + bytes.size()) / page * page;
  return {begin, std::max(begin, end)};
}

inline std::size_t whole_page_count(std::span<const std::byte> bytes) {
  const auto [begin, end] = whole_pages(bytes);
  return (end - begin) / page_size();
}

// How many of the whole pages inside `bytes` are resident.
inline std::size_t resident_pages(std::span<const std::byte> bytes) {
  const auto [begin, end] = whole_pages(bytes);
  if (end == begin) return 0;
  std::vector<unsigned char> flags((end - begin) / page_size());
  if (::mincore(reinterpret_cast<void*>(begin), end - begin, flags.data()) != 0) {
    throw std::runtime_error("mincore failed");
  }
  std::size_t resident = 0;
  for (unsigned char flag : flags) resident += flag & 1;
  return resident;
}

// Fresh anonymous memory, no page of it backed yet; unmapped when destroyed.
class FreshPages {
 public:
  explicit FreshPages(std::size_t pages) : size_(pages * page_size()) {
    void* base = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<std::byte*>(base);
  }
  FreshPages(const FreshPages&) = delete;
  FreshPages& operator=(const FreshPages&) = delete;
  ~FreshPages() { ::munmap(base_, size_); }

  std::span<std::byte> bytes() const { return {base_, size_}; }

 private:
  std::size_t size_;
  std::byte* base_;
};

// Whether this kernel populates a range for writing on request (Linux 5.14 and later).
inline bool kernel_populates_for_write() {
#ifdef MADV_POPULATE_WRITE
  FreshPages probe(1);
  return ::madvise(probe.bytes().data(), probe.bytes().size(), MADV_POPULATE_WRITE) == 0;
#else
  return false;
#endif
}

}  // namespace mnemo::testing
