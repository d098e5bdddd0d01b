#include "formats/storage_pool.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/huge_pages.h"
#include "support/resident.h"

namespace mnemo::formats {
namespace {

std::uintptr_t address(const Storage& storage) {
  return reinterpret_cast<std::uintptr_t>(storage.data());
}

TEST(StoragePool, SmallStoragesLieTogetherAlignedAndApart) {
  const std::vector<std::size_t> sizes = {4000, 1, 64, 65, 100, 65536};
  std::uint64_t small_bytes = 0;
  for (std::size_t n : sizes) small_bytes += StoragePool::footprint(n);
  EXPECT_EQ(small_bytes, 4032u + 64 + 64 + 128 + 128 + 65536);
  StoragePool pool(small_bytes);
  std::vector<Storage> storages;
  for (std::size_t n : sizes) storages.push_back(pool.allocate(n, Device::cpu()));
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Storage& storage = storages[i];
    EXPECT_EQ(storage.nbytes(), sizes[i]);
    EXPECT_EQ(storage.kind(), StorageKind::kOwned);
    EXPECT_TRUE(storage.is_writable());
    EXPECT_EQ(address(storage) % kStorageAlignment, 0u) << i;
    if (i > 0) {  // one block: each right after the one before, rounded to 64 bytes
      EXPECT_EQ(address(storage), address(storages[i - 1]) + StoragePool::footprint(sizes[i - 1]))
          << i;
    }
    std::memset(storage.mutable_data(), static_cast<int>(i + 1), sizes[i]);
  }
  // No storage overlaps another: each still holds its own fill.
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    for (std::size_t b = 0; b < sizes[i]; ++b) {
      ASSERT_EQ(std::to_integer<int>(storages[i].data()[b]), static_cast<int>(i + 1)) << i;
    }
  }
}

TEST(StoragePool, LargeEmptyAndOtherDeviceStoragesStandAlone) {
  EXPECT_EQ(StoragePool::footprint(0), 0u);
  EXPECT_EQ(StoragePool::footprint(65537), 0u);
  StoragePool pool(1 << 20);
  const Storage small = pool.allocate(100, Device::cpu());
  const Storage empty_a = pool.allocate(0, Device::cpu());
  const Storage empty_b = pool.allocate(0, Device::cpu());
  const Storage large = pool.allocate(65537, Device::cpu());
  const Storage tagged = pool.allocate(100, Device::cuda(0));
  const Storage next = pool.allocate(100, Device::cpu());
  // Savers tell storages apart by address: empty ones must not share one.
  EXPECT_NE(empty_a.data(), empty_b.data());
  EXPECT_NE(empty_a.data(), next.data());
  EXPECT_EQ(large.nbytes(), 65537u);
  EXPECT_EQ(tagged.device(), Device::cuda(0));
  // The pool went on after them, right where it was.
  EXPECT_EQ(address(next), address(small) + 128);
}

TEST(StoragePool, LargeStoragesAndBlocksStartOnAHugePageWhereThoseAreUsed) {
  // Where huge pages pay off, a storage or block that can hold one is filled in them
  // (Storage::allocate_for_fill); elsewhere both are plain heap memory.
  const std::size_t huge_page = detail::huge_page_bytes();
  const std::size_t large_size = (std::size_t{5} << 20) + 3;
  StoragePool pool(std::uint64_t{8} << 20);
  const Storage large = pool.allocate(large_size, Device::cpu());
  const Storage small = pool.allocate(100, Device::cpu());
  EXPECT_EQ(large.nbytes(), large_size);
  EXPECT_EQ(large.kind(), StorageKind::kOwned);
  EXPECT_EQ(small.kind(), StorageKind::kOwned);
  if (huge_page != 0) {
    EXPECT_EQ(address(large) % huge_page, 0u);
    EXPECT_EQ(address(small) % huge_page, 0u) << "the first slice of a 4 MiB block";
  }
  std::memset(large.mutable_data(), 3, large_size);
  EXPECT_EQ(std::to_integer<int>(large.data()[large_size - 1]), 3);
}

TEST(StoragePool, AsksBeyondTheEstimateStillSucceed) {
  StoragePool pool(128);  // room for one 100-byte storage
  const Storage first = pool.allocate(100, Device::cpu());
  const Storage second = pool.allocate(100, Device::cpu());
  const Storage third = pool.allocate(4000, Device::cpu());
  EXPECT_EQ(second.nbytes(), 100u);
  EXPECT_EQ(third.nbytes(), 4000u);
  EXPECT_NE(first.data(), second.data());
  std::memset(third.mutable_data(), 1, 4000);
  std::memset(second.mutable_data(), 2, 100);
  EXPECT_EQ(std::to_integer<int>(third.data()[3999]), 1);
}

TEST(StoragePool, ASliceKeepsItsBlockAlive) {
  Storage kept;
  {
    StoragePool pool(1 << 20);
    kept = pool.allocate(256, Device::cpu());
    for (int i = 0; i < 10; ++i) pool.allocate(256, Device::cpu());
  }
  std::memset(kept.mutable_data(), 7, 256);  // still valid memory (ASan would tell)
  EXPECT_EQ(std::to_integer<int>(kept.data()[255]), 7);
}

TEST(StoragePool, PrefaultBacksEveryBlockAheadOfTheRead) {
  // Blocks straight from mmap, so that hardly any of their pages is backed before (an
  // allocator may write its bookkeeping into the first one). The heap may still hold
  // room enough for a block, backed by earlier tests in this process: it is given back
  // to the kernel first (malloc_trim), so that a block cut from it is not backed either.
  ::mallopt(M_MMAP_THRESHOLD, 256 << 10);
  ::malloc_trim(0);
  // Two blocks of 4 MiB, then two more (a pool sized for both, so that the later
  // storages too come from blocks straight from mmap).
  constexpr std::size_t kStorages = 128, kBytes = 64 << 10;
  StoragePool pool(2 * kStorages * StoragePool::footprint(kBytes));
  std::vector<Storage> storages;
  for (std::size_t i = 0; i < kStorages; ++i)
    storages.push_back(pool.allocate(kBytes, Device::cpu()));
  const auto resident = [&] {
    std::size_t pages = 0;
    for (const Storage& s : storages)
      pages += testing::resident_pages(std::span(s.data(), s.nbytes()));
    return pages;
  };
  std::size_t pages = 0;
  for (const Storage& s : storages)
    pages += testing::whole_page_count(std::span(s.data(), s.nbytes()));
  ASSERT_GT(pages, kStorages * 14);
  ASSERT_LT(resident(), pages / 10);
  pool.prefault();
  if (testing::kernel_populates_for_write()) {
    EXPECT_EQ(resident(), pages);
  } else {
    EXPECT_LT(resident(), pages / 10);
  }

  // A later call faults in the blocks made since.
  ::malloc_trim(0);
  const std::size_t first = storages.size();
  for (std::size_t i = 0; i < kStorages; ++i)
    storages.push_back(pool.allocate(kBytes, Device::cpu()));
  std::size_t pages_since = 0;
  for (std::size_t i = first; i < storages.size(); ++i)
    pages_since += testing::whole_page_count(std::span(storages[i].data(), storages[i].nbytes()));
  const auto resident_since = [&] {
    std::size_t pages = 0;
    for (std::size_t i = first; i < storages.size(); ++i)
      pages += testing::resident_pages(std::span(storages[i].data(), storages[i].nbytes()));
    return pages;
  };
  ASSERT_GT(pages_since, kStorages * 14);
  ASSERT_LT(resident_since(), pages_since / 10);
  pool.prefault();
  if (testing::kernel_populates_for_write()) {
    EXPECT_EQ(resident_since(), pages_since);
  }
}

}  // namespace
}  // namespace mnemo::formats
