#include "mnemo/core/storage.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo {
namespace {

using testing::TempDir;

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(StorageTest, UndefinedByDefault) {
  const Storage storage;
  EXPECT_FALSE(storage.defined());
  EXPECT_EQ(storage.nbytes(), 0u);
  EXPECT_EQ(storage.data(), nullptr);
  EXPECT_FALSE(storage.is_writable());
  EXPECT_THROW(storage.mutable_data(), Error);
  EXPECT_THROW(storage.slice(0, 0), Error);
}

TEST(StorageTest, AllocateIs64ByteAligned) {
  for (std::size_t n : {0u, 1u, 3u, 64u, 65u, 1000u, 4096u}) {
    const Storage storage = Storage::allocate(n);
    EXPECT_TRUE(storage.defined());
    EXPECT_EQ(storage.nbytes(), n);
    EXPECT_EQ(storage.kind(), StorageKind::kOwned);
    EXPECT_TRUE(storage.is_writable());
    EXPECT_NE(storage.data(), nullptr) << "even an empty storage has a valid pointer";
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(storage.data()) % kStorageAlignment, 0u) << n;
    EXPECT_EQ(storage.device(), Device::cpu());
  }
  EXPECT_EQ(kStorageAlignment, 64u);
}

TEST(StorageTest, AllocateZeroedIsZero) {
  // Dirty the heap first so that zeros are not an accident of fresh pages.
  for (int i = 0; i < 4; ++i) std::memset(Storage::allocate(4096).mutable_data(), 0xab, 4096);
  const Storage storage = Storage::allocate_zeroed(4096, Device::cuda(1));
  for (std::size_t i = 0; i < storage.nbytes(); ++i) ASSERT_EQ(storage.data()[i], std::byte{0});
  EXPECT_EQ(storage.device(), Device::cuda(1));
}

TEST(StorageTest, HugeAllocationsFailCleanly) {
  // A size that would wrap when rounded up to the alignment must not give a tiny block.
  EXPECT_THROW(Storage::allocate(std::numeric_limits<std::size_t>::max() - 1), std::bad_alloc);
  EXPECT_THROW(Storage::allocate(std::numeric_limits<std::size_t>::max() - 62), std::bad_alloc);
  EXPECT_THROW(Storage::allocate_zeroed(std::numeric_limits<std::size_t>::max()), std::bad_alloc);
}

TEST(StorageTest, CopiesShareTheBytes) {
  const Storage a = Storage::allocate_zeroed(8);
  const Storage b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(a.is_same(b));
  EXPECT_EQ(a.use_count(), 2);
  b.mutable_data()[3] = std::byte{7};
  EXPECT_EQ(a.data()[3], std::byte{7});
  EXPECT_FALSE(a.is_same(Storage::allocate_zeroed(8)));
}

TEST(StorageTest, SliceSharesOwnershipAndBytes) {
  Storage slice;
  {
    const Storage whole = Storage::allocate_zeroed(100);
    slice = whole.slice(10, 20);
    EXPECT_EQ(slice.data(), whole.data() + 10);
    EXPECT_EQ(slice.nbytes(), 20u);
    EXPECT_FALSE(slice.is_same(whole));
    whole.mutable_data()[10] = std::byte{42};
  }
  EXPECT_EQ(slice.data()[0], std::byte{42});  // the parent's memory outlives its handle
  const Storage sub = slice.slice(5, 15);
  EXPECT_EQ(sub.nbytes(), 15u);
  EXPECT_EQ(sub.data(), slice.data() + 5);
  EXPECT_EQ(slice.slice(20, 0).nbytes(), 0u);  // an empty slice at the end is fine
}

TEST(StorageTest, SliceOutsideIsRefused) {
  const Storage storage = Storage::allocate(16);
  EXPECT_THROW(storage.slice(17, 0), Error);
  EXPECT_THROW(storage.slice(8, 9), Error);
  EXPECT_THROW(storage.slice(1, std::numeric_limits<std::size_t>::max()), Error);  // wraps
  try {
    storage.slice(8, 9);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("16 bytes"), std::string::npos) << e.what();
  }
}

TEST(StorageSlicerTest, SlicesAreTheirOwnStoragesOverTheirBytes) {
  // More slices than one batch of handles holds, each of one byte, tagged as the base.
  const Storage base = Storage::allocate_zeroed(1000, Device::cuda(1));
  std::vector<Storage> slices;
  {
    StorageSlicer slicer(base);
    for (std::size_t i = 0; i < 1000; ++i) slices.push_back(slicer.slice(i, 1));
    EXPECT_EQ(slicer.slice(1000, 0).nbytes(), 0u);  // an empty slice at the end is fine
  }
  for (std::size_t i = 0; i < slices.size(); ++i) {
    ASSERT_EQ(slices[i].data(), base.data() + i);
    ASSERT_EQ(slices[i].nbytes(), 1u);
    ASSERT_EQ(slices[i].device(), Device::cuda(1));
    ASSERT_EQ(slices[i].kind(), StorageKind::kOwned);
    ASSERT_TRUE(slices[i].is_writable());
    ASSERT_FALSE(slices[i].is_same(base));
    if (i > 0) {
      ASSERT_FALSE(slices[i].is_same(slices[i - 1]));
    }
  }
  slices[999].mutable_data()[0] = std::byte{9};
  EXPECT_EQ(base.data()[999], std::byte{9});
}

TEST(StorageSlicerTest, ASliceKeepsTheBytesAliveAndTheDeleterRunsOnce) {
  int deleted = 0;
  alignas(8) static std::uint8_t memory[32] = {};
  memory[20] = 5;
  Storage slice;
  {
    StorageSlicer slicer(Storage::from_foreign(memory, sizeof(memory), [&](void*) { ++deleted; }));
    slice = slicer.slice(16, 8);
  }
  EXPECT_EQ(deleted, 0);  // the slicer and the base handle are gone, the slice is not
  EXPECT_EQ(slice.data()[4], std::byte{5});
  EXPECT_EQ(slice.kind(), StorageKind::kForeign);
  slice = Storage();
  EXPECT_EQ(deleted, 1);
}

TEST(StorageSlicerTest, ANewBaseKeepsFillingTheBatchAndEveryBaseStaysAlive) {
  int deleted_a = 0, deleted_b = 0;
  alignas(8) static std::uint8_t memory_a[16] = {};
  alignas(8) static std::uint8_t memory_b[16] = {};
  memory_a[3] = 7;
  memory_b[5] = 8;
  Storage from_a, from_b;
  {
    StorageSlicer slicer(Storage::from_foreign(memory_a, 16, [&](void*) { ++deleted_a; }));
    from_a = slicer.slice(2, 4);
    slicer.set_base(Storage::from_foreign(memory_b, 16, [&](void*) { ++deleted_b; }));
    from_b = slicer.slice(4, 4);
    EXPECT_EQ(slicer.slice(0, 16).data(), reinterpret_cast<const std::byte*>(memory_b));
  }
  // One batch holds both slices' handles: it keeps both bases while either slice lives.
  EXPECT_EQ(from_a.use_count(), 2);
  EXPECT_EQ(from_a.data()[1], std::byte{7});
  EXPECT_EQ(from_b.data()[1], std::byte{8});
  from_a = Storage();
  EXPECT_EQ(deleted_a + deleted_b, 0);
  EXPECT_EQ(from_b.data()[1], std::byte{8});
  from_b = Storage();
  EXPECT_EQ(deleted_a, 1);
  EXPECT_EQ(deleted_b, 1);
}

TEST(StorageSlicerTest, ASliceOutsideIsRefused) {
  StorageSlicer slicer(Storage::allocate(16));
  EXPECT_THROW(slicer.slice(17, 0), Error);
  EXPECT_THROW(slicer.slice(1, std::numeric_limits<std::size_t>::max()), Error);  // wraps
  EXPECT_THROW(StorageSlicer().slice(0, 0), Error);                               // no base
  EXPECT_EQ(slicer.slice(8, 8).nbytes(), 8u);  // still usable after a refusal
}

TEST(StorageTest, WithDeviceRetagsTheSameBytes) {
  const Storage cpu = Storage::allocate(8);
  const Storage gpu = cpu.with_device(Device::cuda(0));
  EXPECT_EQ(gpu.device(), Device::cuda(0));
  EXPECT_EQ(gpu.data(), cpu.data());
  EXPECT_EQ(cpu.device(), Device::cpu());
  EXPECT_FALSE(gpu.is_same(cpu));
}

TEST(StorageTest, ForeignDeleterRunsOnceAfterEverySliceDies) {
  int deleted = 0;
  alignas(8) static std::uint8_t memory[32];
  void* seen = nullptr;
  {
    Storage foreign = Storage::from_foreign(memory, sizeof(memory), [&](void* p) {
      ++deleted;
      seen = p;
    });
    EXPECT_EQ(foreign.kind(), StorageKind::kForeign);
    EXPECT_TRUE(foreign.is_writable());
    Storage a = foreign.slice(0, 8);
    Storage b = foreign.slice(8, 8).slice(4, 4);
    Storage c = b.with_device(Device::cuda(0));
    foreign = Storage();
    a = Storage();
    b = Storage();
    EXPECT_EQ(deleted, 0);
    EXPECT_EQ(c.data(), reinterpret_cast<std::byte*>(memory) + 12);
  }
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(seen, memory);
}

TEST(StorageTest, ForeignWithoutDeleterAndReadOnly) {
  const std::uint8_t memory[4] = {1, 2, 3, 4};
  const Storage storage =
      Storage::from_foreign(const_cast<std::uint8_t*>(memory), 4, {}, Device::cpu(), false);
  EXPECT_FALSE(storage.is_writable());
  EXPECT_EQ(storage.data()[2], std::byte{3});
  EXPECT_THROW(storage.mutable_data(), Error);
  EXPECT_THROW(Storage::from_foreign(nullptr, 4, {}), Error);
  EXPECT_TRUE(Storage::from_foreign(nullptr, 0, {}).defined());
}

TEST(StorageTest, MapFileReadOnly) {
  TempDir dir;
  const std::string text = "hello, mapped world";
  write_file(dir / "f.bin", text);
  const Storage storage = Storage::map_file(dir / "f.bin", MapMode::kReadOnly);
  EXPECT_EQ(storage.kind(), StorageKind::kMapped);
  EXPECT_EQ(storage.nbytes(), text.size());
  EXPECT_EQ(std::memcmp(storage.data(), text.data(), text.size()), 0);
  EXPECT_FALSE(storage.is_writable());
  try {
    storage.mutable_data();
    FAIL() << "a read-only mapping handed out writable memory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(storage.slice(1, 3).is_writable());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(storage.data()) % kStorageAlignment, 0u);
}

TEST(StorageTest, MapFileCopyOnWriteNeverChangesTheFile) {
  TempDir dir;
  write_file(dir / "f.bin", "abcdef");
  {
    const Storage storage = Storage::map_file(dir / "f.bin", MapMode::kCopyOnWrite);
    EXPECT_TRUE(storage.is_writable());
    storage.mutable_data()[0] = std::byte{'X'};
    EXPECT_EQ(storage.data()[0], std::byte{'X'});
    // A second mapping of the file does not see the private write.
    const Storage other = Storage::map_file(dir / "f.bin", MapMode::kReadOnly);
    EXPECT_EQ(other.data()[0], std::byte{'a'});
  }
  EXPECT_EQ(testing::read_text(dir / "f.bin"), "abcdef");
}

TEST(StorageTest, MappingOutlivesSlicesOfIt) {
  TempDir dir;
  write_file(dir / "f.bin", "0123456789");
  Storage tail;
  {
    const Storage whole = Storage::map_file(dir / "f.bin", MapMode::kReadOnly);
    tail = whole.slice(7, 3);
  }
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(tail.data()), 3), "789");
}

TEST(StorageTest, MapMissingFileIsIoErrorNamingThePath) {
  TempDir dir;
  const auto path = dir / "does-not-exist.pt";
  try {
    Storage::map_file(path, MapMode::kReadOnly);
    FAIL() << "mapped a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(StorageTest, MapDirectoryIsIoError) {
  TempDir dir;
  try {
    Storage::map_file(dir.path(), MapMode::kReadOnly);
    FAIL() << "mapped a directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
  }
}

TEST(StorageTest, MapEmptyFile) {
  TempDir dir;
  write_file(dir / "empty", "");
  for (MapMode mode : {MapMode::kReadOnly, MapMode::kCopyOnWrite}) {
    const Storage storage = Storage::map_file(dir / "empty", mode);
    EXPECT_TRUE(storage.defined());
    EXPECT_EQ(storage.nbytes(), 0u);
    EXPECT_NE(storage.data(), nullptr);
    EXPECT_EQ(storage.kind(), StorageKind::kMapped);
    EXPECT_EQ(storage.is_writable(), mode == MapMode::kCopyOnWrite);
  }
}

}  // namespace
}  // namespace mnemo
