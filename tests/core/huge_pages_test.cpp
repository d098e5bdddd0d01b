#include "core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "mnemo/core/storage.h"

namespace mnemo::detail {
namespace {

constexpr std::size_t kTwoMiB = std::size_t{2} << 20;

// A machine with huge pages on request and no balloon.
HugePageFacts offering_machine() {
  HugePageFacts facts;
  facts.thp_enabled = "always [madvise] never\n";
  facts.pmd_size = "2097152\n";
  facts.buddyinfo =
      "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1"
      "      1      2 \n"
      "Node 0, zone   Normal    321    200     80     40     20     10      5      2      1"
      "      1   4000 \n";
  return facts;
}

TEST(HugePagesTest, UsedWhereTheKernelOffersThem) {
  EXPECT_EQ(huge_page_bytes(offering_machine()), kTwoMiB);
  HugePageFacts always = offering_machine();
  always.thp_enabled = "[always] madvise never\n";
  EXPECT_EQ(huge_page_bytes(always), kTwoMiB);
  HugePageFacts gigantic = offering_machine();
  gigantic.pmd_size = "1073741824\n";
  EXPECT_EQ(huge_page_bytes(gigantic), std::size_t{1} << 30);
}

TEST(HugePagesTest, NotUsedWhereTheKernelOrTheProcessTurnedThemOff) {
  HugePageFacts never = offering_machine();
  never.thp_enabled = "always madvise [never]\n";
  EXPECT_EQ(huge_page_bytes(never), 0u);
  HugePageFacts absent = offering_machine();
  absent.thp_enabled.clear();  // a kernel built without them
  EXPECT_EQ(huge_page_bytes(absent), 0u);
  HugePageFacts process = offering_machine();
  process.disabled_for_process = true;
  EXPECT_EQ(huge_page_bytes(process), 0u);
}

TEST(HugePagesTest, NotUsedWhileFreePagesAreReportedToTheHost) {
  HugePageFacts reporting = offering_machine();
  reporting.reporting_order = "9\n";  // a balloon reports free 2 MiB blocks
  EXPECT_EQ(huge_page_bytes(reporting), 0u);
  reporting.reporting_order = "10\n";  // the largest block of this machine
  EXPECT_EQ(huge_page_bytes(reporting), 0u);
  reporting.reporting_order = "0";
  EXPECT_EQ(huge_page_bytes(reporting), 0u);

  // Raised past the largest block, it reports nothing.
  HugePageFacts turned_off = offering_machine();
  turned_off.reporting_order = "11\n";
  EXPECT_EQ(huge_page_bytes(turned_off), kTwoMiB);
  // No driver registered: the order reads as -1.
  HugePageFacts unregistered = offering_machine();
  unregistered.reporting_order = "4294967295\n";
  EXPECT_EQ(huge_page_bytes(unregistered), kTwoMiB);
  HugePageFacts unreadable = offering_machine();
  unreadable.reporting_order = "nine";
  EXPECT_EQ(huge_page_bytes(unreadable), kTwoMiB);
}

TEST(HugePagesTest, TheLargestBlockComesFromBuddyinfo) {
  HugePageFacts larger_blocks = offering_machine();  // 14 orders, as with 64 KiB pages
  larger_blocks.buddyinfo =
      "Node 0, zone   Normal  1  2  3  4  5  6  7  8  9  10  11  12  13  14\n";
  larger_blocks.reporting_order = "11";
  EXPECT_EQ(huge_page_bytes(larger_blocks), 0u);
  larger_blocks.reporting_order = "14";
  EXPECT_EQ(huge_page_bytes(larger_blocks), kTwoMiB);

  // Without buddyinfo, the largest block is taken to be of order 10.
  HugePageFacts unknown = offering_machine();
  unknown.buddyinfo.clear();
  unknown.reporting_order = "10";
  EXPECT_EQ(huge_page_bytes(unknown), 0u);
  unknown.reporting_order = "11";
  EXPECT_EQ(huge_page_bytes(unknown), kTwoMiB);
}

TEST(HugePagesTest, ASizeThatIsNoHugePageTurnsThemOff) {
  for (const char* size : {"", "abc", "2097152 kB", "3000000", "4096", "2147483648", "-1"}) {
    HugePageFacts facts = offering_machine();
    facts.pmd_size = size;
    EXPECT_EQ(huge_page_bytes(facts), 0u) << "'" << size << "'";
  }
}

// The VmFlags of the mapping that holds `address`, from /proc/self/smaps.
std::string vm_flags_at(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = begin <= at && at < end;
    } else if (inside && line.starts_with("VmFlags:")) {
      return line;
    }
  }
  return "";
}

bool mapped(const void* address) { return !vm_flags_at(address).empty(); }

TEST(HugePagesTest, TheMappingIsAlignedAdvisedAndReleasedWithItsHandle) {
  const std::size_t nbytes = 2 * kTwoMiB + 3;
  std::shared_ptr<void> block = map_for_huge_pages(nbytes, kTwoMiB);
  ASSERT_NE(block, nullptr);
  auto* bytes = static_cast<std::byte*>(block.get());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(bytes) % kTwoMiB, 0u);
  std::memset(bytes, 0x5a, nbytes);  // every byte is there and writable
  EXPECT_EQ(bytes[nbytes - 1], std::byte{0x5a});
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage")) {
    EXPECT_NE(vm_flags_at(bytes).find(" hg"), std::string::npos) << vm_flags_at(bytes);
  }
  const std::byte* last_page = bytes + nbytes - 1;
  ASSERT_TRUE(mapped(last_page));
  block.reset();
  EXPECT_FALSE(mapped(bytes));
  EXPECT_FALSE(mapped(last_page));
}

TEST(HugePagesTest, SizesNoMappingCanHoldAreRefused) {
  EXPECT_EQ(map_for_huge_pages(0, kTwoMiB), nullptr);
  EXPECT_EQ(map_for_huge_pages(std::numeric_limits<std::size_t>::max(), kTwoMiB), nullptr);
  EXPECT_EQ(map_for_huge_pages(std::numeric_limits<std::size_t>::max() - kTwoMiB, kTwoMiB),
            nullptr);
}

TEST(HugePagesTest, AllocateForFillIsAnOwnedStorageOfExactlyItsSize) {
  const std::size_t huge_page = huge_page_bytes();
  for (std::size_t n : {std::size_t{0}, std::size_t{1000}, kTwoMiB - 1, kTwoMiB, 3 * kTwoMiB + 5}) {
    const Storage storage = Storage::allocate_for_fill(n, Device::cuda(0));
    EXPECT_EQ(storage.nbytes(), n);
    EXPECT_EQ(storage.kind(), StorageKind::kOwned);
    EXPECT_TRUE(storage.is_writable());
    EXPECT_EQ(storage.device(), Device::cuda(0));
    ASSERT_NE(storage.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(storage.data()) % kStorageAlignment, 0u);
    if (huge_page != 0 && n >= huge_page) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(storage.data()) % huge_page, 0u) << n;
    }
    if (n != 0) {
      std::memset(storage.mutable_data(), 0x11, n);
      EXPECT_EQ(storage.data()[n - 1], std::byte{0x11});
    }
  }
}

TEST(HugePagesTest, ASliceKeepsAFilledStorageMapped) {
  Storage slice;
  const std::byte* last = nullptr;
  {
    const Storage storage = Storage::allocate_for_fill(2 * kTwoMiB);
    std::memset(storage.mutable_data(), 0x22, storage.nbytes());
    slice = storage.slice(storage.nbytes() - 16, 16);
    last = storage.data() + storage.nbytes() - 1;
  }
  EXPECT_TRUE(mapped(last));
  EXPECT_EQ(slice.data()[15], std::byte{0x22});
}

}  // namespace
}  // namespace mnemo::detail
