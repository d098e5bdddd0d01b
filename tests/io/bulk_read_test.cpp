#include "io/bulk_read.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "mnemo/core/error.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::io {
namespace {

using testing::pattern;
using testing::TempDir;
using testing::write_file;

// Ranges of every kind: many small ones back to back (runs), gaps, empty ones, large
// ones split in pieces; given out of order unless `in_file_order` (read without sorting a
// copy first).
std::vector<std::pair<std::uint64_t, std::size_t>> ranges(bool in_file_order) {
  std::vector<std::pair<std::uint64_t, std::size_t>> out;
  std::uint64_t at = 0;
  for (int i = 0; i < 3000; ++i) {
    out.emplace_back(at, 1000);
    at += 1000;
  }
  out.emplace_back(at + 10, 0);
  out.emplace_back(at + 17, 5);  // after a gap
  out.emplace_back(at + 100, std::size_t{5} << 20);  // large: pieces
  out.emplace_back(at + 100 + (std::size_t{5} << 20), 3);
  if (!in_file_order) {
    std::swap(out[0], out[2999]);
    std::swap(out[10], out.back());
  }
  return out;
}

void check_reads(const ByteSource& source, const std::vector<std::byte>& bytes,
                 bool in_file_order = false) {
  const auto wanted = ranges(in_file_order);
  std::vector<std::vector<std::byte>> buffers;
  std::vector<RangeRead> reads;
  for (const auto& [offset, size] : wanted) buffers.emplace_back(size);
  for (std::size_t i = 0; i < wanted.size(); ++i) reads.push_back({wanted[i].first, buffers[i]});
  read_ranges(source, reads);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    ASSERT_TRUE(std::equal(buffers[i].begin(), buffers[i].end(),
                           bytes.begin() + static_cast<std::ptrdiff_t>(wanted[i].first)))
        << i;
  }
}

TEST(ReadRangesTest, ReadsEveryRangeFromAFile) {
  TempDir dir;
  const auto bytes = pattern(std::size_t{9} << 20);
  write_file(dir / "f.bin", bytes);
  check_reads(FileSource(dir / "f.bin"), bytes);
}

TEST(ReadRangesTest, ReadsEveryRangeGivenInFileOrder) {
  TempDir dir;
  const auto bytes = pattern(std::size_t{9} << 20);
  write_file(dir / "f.bin", bytes);
  check_reads(FileSource(dir / "f.bin"), bytes, /*in_file_order=*/true);
}

TEST(ReadRangesTest, ReadsEveryRangeFromMemory) {
  const auto bytes = pattern(std::size_t{9} << 20);
  check_reads(MemorySource::view(bytes), bytes);
}

TEST(ReadRangesTest, ARangePastTheEndIsCorrupt) {
  TempDir dir;
  const auto bytes = pattern(5000);
  write_file(dir / "f.bin", bytes);
  const FileSource source(dir / "f.bin");
  std::vector<std::byte> a(1000), b(1000), c(1000);
  // a, b and c form one run; c runs past the end.
  try {
    read_ranges(source, std::vector<RangeRead>{{3000, a}, {4000, b}, {5000, c}});
    FAIL() << "nothing thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("read needs bytes [5000, 6000)"));
  }
}

}  // namespace
}  // namespace mnemo::io
