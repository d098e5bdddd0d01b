// Transparent huge pages for large buffers that are filled at once, as a load fills its
// tensors. Backing 1 GiB with 2 MiB pages takes the kernel a fraction of the time 4 KiB
// pages take (one fault and one clear per 2 MiB instead of 512 of each), and that backing
// is most of a copy load's cost.
//
// They are not always a gain. On a virtual machine whose balloon reports free memory to
// the host (free page reporting), the 2 MiB blocks a huge page is cut from are the ones
// the host has taken back, and each must be backed again by the host on first touch: a
// load of 1 GiB then took three to four times as long as with 4 KiB pages. So huge pages
// are used only where the kernel offers them and reports no free memory.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace mnemo::detail {

// What decides whether huge pages pay off, as the kernel shows it. An empty text stands
// for a file that is absent or unreadable.
struct HugePageFacts {
  std::string thp_enabled;            // /sys/kernel/mm/transparent_hugepage/enabled
  std::string pmd_size;               // /sys/kernel/mm/transparent_hugepage/hpage_pmd_size
  std::string reporting_order;        // /sys/module/page_reporting/parameters/page_reporting_order
  std::string buddyinfo;              // /proc/buddyinfo: its columns are the orders of free blocks
  bool disabled_for_process = false;  // prctl(PR_GET_THP_DISABLE)
};

// The size of a huge page worth asking for, or 0 when huge pages would not pay off: the
// kernel has none, or they are disabled, or free page reporting is on.
std::size_t huge_page_bytes(const HugePageFacts& facts);

// huge_page_bytes() of this machine and process, read once.
std::size_t huge_page_bytes();

// A private anonymous mapping of at least `nbytes`, page-rounded, aligned to
// `huge_page_bytes` and advised for huge pages (MADV_HUGEPAGE), released by the returned
// handle. Its own mapping, so that the advice never splits another one. Null when the
// kernel refuses the mapping. REQUIRES: huge_page_bytes is a power of two.
std::shared_ptr<void> map_for_huge_pages(std::size_t nbytes, std::size_t huge_page_bytes);

}  // namespace mnemo::detail
