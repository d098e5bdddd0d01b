// Files that lie about sizes — a numel, a shape, a record's or a string's length — are
// refused before anything of the claimed size is allocated: a copy load never asks for
// more memory than the file could back (its bytes, or what its deflate streams can
// inflate to, at most 1032 times their size).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allocation_tracker.h"
#include "formats/pickle/opcodes.h"
#include "formats/pickle/pickle_test_util.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;
using pickle::Op;
using pickle::testing::PickleBuilder;
using zip::testing::Bytes;

// Far below every lie below (each claims gigabytes or more), far above what the files
// themselves need.
constexpr std::size_t kBound = std::size_t{1} << 20;

Bytes pt_with_pickle(const PickleBuilder& pickle, const std::string& storage) {
  return zip::testing::write_archive({{"archive/data.pkl", zip::testing::text_of(pickle.span())},
                                      {"archive/data/0", storage},
                                      {"archive/version", "3\n"}});
}

// A persistent id for storage "0" whose numel is 2^40, as LONG1.
PickleBuilder& huge_storage_pid(PickleBuilder& p, bool legacy) {
  p.mark().unicode("storage").global("torch", "FloatStorage").unicode("0").unicode("cpu");
  p.op(Op::kLong1).byte(6).le(std::uint64_t{1} << 40, 6);
  if (legacy) p.none();
  return p.op(Op::kTuple).op(Op::kBinPersId);
}

void expect_refused_without_allocating(std::span<const std::byte> file, ErrorCode code,
                                       const std::string& fragment) {
  reset_largest_allocation();
  try {
    load(file);
    ADD_FAILURE() << "the file loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
  EXPECT_LE(largest_allocation(), kBound);
}

TEST(BoundedAllocation, PtStorageNumel) {
  PickleBuilder p;
  p.proto().global("torch._utils", "_rebuild_tensor_v2").mark();
  huge_storage_pid(p, false).binint(0).int_tuple({1}).int_tuple({1}).op(Op::kNewFalse);
  p.global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kReduce);
  p.op(Op::kTuple).op(Op::kReduce).stop();
  expect_refused_without_allocating(pt_with_pickle(p, std::string(4, '\0')), ErrorCode::kCorrupt,
                                    "storage is 1099511627776");
}

TEST(BoundedAllocation, PtTensorView) {
  PickleBuilder p;
  p.proto().tensor("FloatStorage", "0", 1, 0, {1 << 20, 1 << 20}, {1 << 20, 1}).stop();
  expect_refused_without_allocating(pt_with_pickle(p, std::string(4, '\0')), ErrorCode::kCorrupt,
                                    "reaches outside storage");
}

TEST(BoundedAllocation, DeflatedRecordSize) {
  // 1000 deflated bytes claiming 2^31 bytes: more than deflate can produce.
  zip::testing::RawEntry record;
  record.name = "archive/data/0";
  record.stored = Bytes(1000);
  record.size = std::uint64_t{1} << 31;
  record.method = zip::kMethodDeflated;
  const Bytes file = zip::testing::build_classic(
      {zip::testing::stored_entry("archive/data.pkl", "\x80\x02N."), record,
       zip::testing::stored_entry("archive/version", "3\n")});
  expect_refused_without_allocating(file, ErrorCode::kCorrupt, "more than deflate can produce");
}

TEST(BoundedAllocation, PickleStringLength) {
  PickleBuilder p;
  p.proto(4).op(Op::kBinUnicode8).le(std::uint64_t{1} << 29, 8);  // under the limit, not there
  expect_refused_without_allocating(pt_with_pickle(p, ""), ErrorCode::kCorrupt, "truncated pickle");
}

TEST(BoundedAllocation, LegacyStorageNumel) {
  // The legacy chain: magic number, protocol version, sys_info, the object (a tensor
  // whose storage claims 2^40 elements), the storage keys, then 4 bytes of storage.
  PickleBuilder p;
  p.proto().op(Op::kLong1).bytes({10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}).stop();
  p.proto().binint2(1001).stop();
  p.proto().op(Op::kEmptyDict).unicode("little_endian").op(Op::kNewTrue).op(Op::kSetItem).stop();
  p.proto().global("torch._utils", "_rebuild_tensor").mark();
  huge_storage_pid(p, true).binint(0).int_tuple({1}).int_tuple({1}).op(Op::kTuple).op(Op::kReduce).stop();
  p.proto().op(Op::kEmptyList).unicode("0").op(Op::kAppend).stop();
  p.le(1, 8).le(0, 4);
  expect_refused_without_allocating(p.data(), ErrorCode::kCorrupt, "more than the file could hold");
}

TEST(BoundedAllocation, MessagesShowOnlyTheBeginningOfAValue) {
  // A legacy header whose sys_info lacks 'little_endian' and holds one list of 1,000 ints
  // referenced 1,000 times: a few kilobytes whose whole repr takes megabytes.
  PickleBuilder p;
  p.proto()
      .op(Op::kLong1)
      .bytes({10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19})
      .stop();
  p.proto().binint2(1001).stop();
  p.proto().op(Op::kEmptyDict).unicode("x").op(Op::kEmptyList).mark();
  p.op(Op::kEmptyList).put(0).mark();
  for (int i = 0; i < 1000; ++i) p.binint1(7);
  p.op(Op::kAppends);
  for (int i = 1; i < 1000; ++i) p.get(0);
  p.op(Op::kAppends).op(Op::kSetItem).stop();
  expect_refused_without_allocating(p.data(), ErrorCode::kCorrupt,
                                    "no 'little_endian' flag: {'x': [[7, 7, 7");
}

TEST(BoundedAllocation, SafetensorsShapeAndHeaderLength) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,8]}})";
  Bytes st(8);
  zip::format::store_le64(st.data(), header.size());
  for (char c : header) st.push_back(static_cast<std::byte>(c));
  st.resize(st.size() + 8);
  expect_refused_without_allocating(st, ErrorCode::kCorrupt, "1099511627776 x 4");

  Bytes length = st;  // a header length of 99 MB in a file of 90 bytes
  zip::format::store_le64(length.data(), 99'000'000);
  expect_refused_without_allocating(length, ErrorCode::kCorrupt, "past the end of the file");
}

TEST(BoundedAllocation, ZipEntryCount) {
  Bytes file = save_to_bytes(Dict{{"w", ones({2})}});
  const zip::testing::EndOffsets end = zip::testing::end_offsets(file);
  for (const std::uint64_t count : {std::uint64_t{1} << 20, std::uint64_t{1} << 40}) {
    zip::testing::patch64(file, end.zip64_end + 24, count);
    zip::testing::patch64(file, end.zip64_end + 32, count);
    zip::testing::patch16(file, end.end + 8, 0xffff);
    zip::testing::patch16(file, end.end + 10, 0xffff);
    reset_largest_allocation();
    EXPECT_THROW(load(file), Error);
    EXPECT_LE(largest_allocation(), kBound) << count;
  }
}

}  // namespace
}  // namespace mnemo::testing
