#include "core/huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

namespace mnemo::detail {
namespace {

// The largest order of a free block when /proc/buddyinfo cannot tell: the kernel's
// default on x86 and most 4 KiB-page machines.
constexpr unsigned kDefaultMaxOrder = 10;

std::optional<std::uint64_t> parse_number(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// The words of `text`, separated by blanks.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while ((at = text.find_first_not_of(" \t", at)) != std::string_view::npos) {
    const std::size_t end = std::min(text.find_first_of(" \t", at), text.size());
    out.push_back(text.substr(at, end - at));
    at = end;
  }
  return out;
}

// The largest order of a free block: the columns of a /proc/buddyinfo line, which reads
// "Node 0, zone   Normal   <free blocks of order 0> ... <of the largest order>".
unsigned max_block_order(std::string_view buddyinfo) {
  const std::vector<std::string_view> line = words(buddyinfo.substr(0, buddyinfo.find('\n')));
  const auto zone = std::find(line.begin(), line.end(), "zone");
  // After "zone": its name, then one column per order.
  if (line.end() - zone < 3) return kDefaultMaxOrder;
  return static_cast<unsigned>(line.end() - zone - 3);
}

// Free page reporting is on once a driver has registered for it, which sets the order of
// the blocks it reports; unregistered, the order reads as -1 (all ones). An order past
// the largest block, as a user sets to turn it off, reports nothing.
bool reports_free_pages(const HugePageFacts& facts) {
  const std::optional<std::uint64_t> order = parse_number(facts.reporting_order);
  return order && *order <= max_block_order(facts.buddyinfo);
}

// The start of a small file of the kernel's; empty when it cannot be read.
std::string read_text(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text(512, '\0');
  const ssize_t got = ::read(fd, text.data(), text.size());
  ::close(fd);
  text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return text;
}

}  // namespace

std::size_t huge_page_bytes(const HugePageFacts& facts) {
  if (facts.disabled_for_process) return 0;
  const bool offered = facts.thp_enabled.find("[always]") != std::string::npos ||
                       facts.thp_enabled.find("[madvise]") != std::string::npos;
  if (!offered || reports_free_pages(facts)) return 0;
  const std::optional<std::uint64_t> size = parse_number(facts.pmd_size);
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  // A power of two above the base page, and no more than a kernel would use (1 GiB).
  if (!size || *size <= page || (*size & (*size - 1)) != 0 || *size > (std::uint64_t{1} << 30)) {
    return 0;
  }
  return static_cast<std::size_t>(*size);
}

std::size_t huge_page_bytes() {
  static const std::size_t bytes = [] {
    HugePageFacts facts;
    facts.thp_enabled = read_text("/sys/kernel/mm/transparent_hugepage/enabled");
    facts.pmd_size = read_text("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
    facts.reporting_order = read_text("/sys/module/page_reporting/parameters/page_reporting_order");
    facts.buddyinfo = read_text("/proc/buddyinfo");
    facts.disabled_for_process = ::prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) > 0;
    return huge_page_bytes(facts);
  }();
  return bytes;
}

std::shared_ptr<void> map_for_huge_pages(std::size_t nbytes, std::size_t huge_page_bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  // Room for the rounding and the slack below, without wrapping around.
  if (nbytes == 0 || nbytes > std::numeric_limits<std::size_t>::max() - page - huge_page_bytes) {
    return nullptr;
  }
  const std::size_t length = (nbytes + page - 1) / page * page;
  // Mapped with a huge page of slack, then trimmed to the aligned part.
  const std::size_t mapped = length + huge_page_bytes;
  void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<std::uintptr_t>(base);
  const std::uintptr_t aligned = (begin + huge_page_bytes - 1) & ~(huge_page_bytes - 1);
  if (aligned > begin) ::munmap(base, aligned - begin);
  const std::uintptr_t tail = aligned + length;
  if (begin + mapped > tail) ::munmap(reinterpret_cast<void*>(tail), begin + mapped - tail);
  void* data = reinterpret_cast<void*>(aligned);
  // Refused only by a kernel without huge pages: the mapping still works with small ones.
  (void)::madvise(data, length, MADV_HUGEPAGE);
  return std::shared_ptr<void>(data, [length](void* p) { ::munmap(p, length); });
}

}  // namespace mnemo::detail
