#include "mnemo/io/byte_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/core/error.h"
#include "support/bytes.h"
#include "support/errors.h"
#include "support/python.h"

namespace mnemo::io {
namespace {

using mnemo::testing::thrown_error;
using ::testing::HasSubstr;
using testing::pattern;
using testing::TempDir;
using testing::write_file;

TEST(FileSourceTest, ReadsAnyRange) {
  TempDir dir;
  const auto bytes = pattern(10000);
  write_file(dir / "f.bin", bytes);
  FileSource source(dir / "f.bin");
  EXPECT_EQ(source.size(), 10000u);
  EXPECT_EQ(source.describe(), (dir / "f.bin").string());
  EXPECT_GE(source.fd(), 0);
  EXPECT_FALSE(source.storage().defined());
  for (auto [offset, length] : {std::pair{0u, 10000u}, {1u, 1u}, {4095u, 3000u}, {9999u, 1u}}) {
    std::vector<std::byte> out(length);
    source.read_at(offset, out);
    EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin() + offset)) << offset;
  }
  // An empty read at the very end is inside the file.
  source.read_at(10000, {});
}

TEST(FileSourceTest, ReadPastTheEndIsCorruptAndNamesTheRange) {
  TempDir dir;
  write_file(dir / "f.bin", pattern(100));
  FileSource source(dir / "f.bin");
  std::vector<std::byte> out(10);
  const Error e = thrown_error([&] { source.read_at(95, out); });
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("needs bytes [95, 105)"));
  EXPECT_THAT(e.what(), HasSubstr((dir / "f.bin").string()));
  EXPECT_THAT(e.what(), HasSubstr("has 100 bytes"));
  EXPECT_EQ(thrown_error([&] { source.read_at(101, {}); }).code(), ErrorCode::kCorrupt);
}

TEST(FileSourceTest, OffsetNearTheTopOfTheRangeDoesNotWrapAround) {
  TempDir dir;
  write_file(dir / "f.bin", pattern(100));
  FileSource source(dir / "f.bin");
  std::vector<std::byte> out(2);
  const Error e =
      thrown_error([&] { source.read_at(std::numeric_limits<std::uint64_t>::max(), out); });
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("needs 2 bytes from offset 18446744073709551615"));
  EXPECT_FALSE(source.contains(std::numeric_limits<std::uint64_t>::max(), 2));
  EXPECT_FALSE(source.contains(50, std::numeric_limits<std::uint64_t>::max()));
  EXPECT_TRUE(source.contains(0, 100));
  EXPECT_TRUE(source.contains(100, 0));
}

TEST(FileSourceTest, FileTruncatedAfterOpeningIsCorruptNotACrash) {
  TempDir dir;
  const auto path = dir / "f.bin";
  const auto bytes = pattern(8192);
  write_file(path, bytes);
  FileSource source(path);
  ASSERT_EQ(::truncate(path.c_str(), 1000), 0);
  std::vector<std::byte> out(4096);
  const Error e = thrown_error([&] { source.read_at(0, out); });
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("needs bytes [0, 4096)"));
  EXPECT_THAT(e.what(), HasSubstr("has 1000 bytes"));
  EXPECT_THAT(e.what(), HasSubstr("shrank"));
  // What is still there reads fine.
  std::vector<std::byte> head(1000);
  source.read_at(0, head);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), bytes.begin()));
}

TEST(FileSourceTest, MissingFileIsIoNamingThePath) {
  TempDir dir;
  const Error e = thrown_error([&] { FileSource source(dir / "absent.pt"); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_THAT(e.what(), HasSubstr((dir / "absent.pt").string()));
  EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
}

TEST(FileSourceTest, DirectoryIsRefused) {
  TempDir dir;
  const Error e = thrown_error([&] { FileSource source(dir.path()); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_THAT(e.what(), HasSubstr("not a regular file"));
}

TEST(FileSourceTest, ConcurrentReadsSeeTheirOwnRanges) {
  TempDir dir;
  const auto bytes = pattern(1 << 20);
  write_file(dir / "f.bin", bytes);
  const FileSource source(dir / "f.bin");
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::byte> out(4093);
      for (std::size_t offset = static_cast<std::size_t>(t) * 977;
           offset + out.size() <= bytes.size(); offset += 4 * 4093 + 13) {
        source.read_at(offset, out);
        if (!std::equal(out.begin(), out.end(),
                        bytes.begin() + static_cast<std::ptrdiff_t>(offset))) {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(MemorySourceTest, ReadsOwnedStorage) {
  Storage storage = Storage::allocate(256);
  const auto bytes = pattern(256);
  std::copy(bytes.begin(), bytes.end(), storage.mutable_data());
  MemorySource source(storage, "buffer 'x'");
  EXPECT_EQ(source.size(), 256u);
  EXPECT_EQ(source.describe(), "buffer 'x'");
  EXPECT_TRUE(source.storage().is_same(storage));
  std::vector<std::byte> out(16);
  source.read_at(240, out);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin() + 240));
  const Error e = thrown_error([&] { source.read_at(241, out); });
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("needs bytes [241, 257) but buffer 'x' has 256 bytes"));
}

TEST(MemorySourceTest, ViewSharesTheCallersBytesReadOnly) {
  const auto bytes = pattern(100);
  MemorySource source = MemorySource::view(bytes);
  EXPECT_EQ(source.describe(), "<memory>");
  EXPECT_EQ(source.size(), 100u);
  const Storage storage = source.storage();
  EXPECT_EQ(storage.data(), bytes.data());  // no copy
  EXPECT_FALSE(storage.is_writable());
  EXPECT_EQ(storage.kind(), StorageKind::kForeign);
  std::vector<std::byte> out(100);
  source.read_at(0, out);
  EXPECT_EQ(out, bytes);
  EXPECT_EQ(thrown_error([&] { source.read_at(1, out); }).code(), ErrorCode::kCorrupt);
}

TEST(MemorySourceTest, EmptySources) {
  MemorySource view = MemorySource::view({});
  EXPECT_EQ(view.size(), 0u);
  view.read_at(0, {});
  std::byte one[1];
  EXPECT_EQ(thrown_error([&] { view.read_at(0, one); }).code(), ErrorCode::kCorrupt);
  MemorySource undefined{Storage()};
  EXPECT_EQ(undefined.size(), 0u);
  undefined.read_at(0, {});
}

}  // namespace
}  // namespace mnemo::io
